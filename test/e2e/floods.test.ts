// Floods the daemon must survive with bounded memory: a resident hook printing hundreds of MB
// while frozen (its lines are held, and the held lines are bounded), and hundreds of clients of
// the control socket that connect and never read. The daemon must stay alive, answer, thaw, and
// keep its resident set small; a daemon killed by V8's heap limit while frozen would leave the
// hooks frozen until a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { emulatorPerFile } from '../support/emulator.ts';
import { within, type WatchedProcess } from '../support/process.ts';
import { DAEMON_NODE_FLAGS } from '../../src/state/paths.ts';
import { hooksForTest, RECORD, type HooksFixture } from '../support/hooks-dir.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { KERNEL_TIMEOUT_S, spawnDaemon } from '../support/daemon-fixture.ts';
import { waitForFile } from '../support/watch-file.ts';

/** A daemon with the shipped heap cap (48 MB old space) stays well below this whatever it is fed. */
const RSS_CAP_MIB = 160;

const defer = cleanupsPerTest();
const emu = emulatorPerFile({ timeoutMs: KERNEL_TIMEOUT_S * 1000 });

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:')) ?? '';
  return Number.parseInt(line.replace(/\D+/g, ''), 10) / 1024;
}

function startDaemon(fx: HooksFixture, extra: string[] = []): Promise<WatchedProcess> {
  // As rc.d runs it: with the shipped V8 options (a bounded heap).
  return spawnDaemon(defer, {
    device: emu.appDevice, hooksDir: fx.dir, root: fx.root, defaults: { '--kernel-timeout': String(KERNEL_TIMEOUT_S), '--timeout': '2' }, extra,
    nodeOptions: DAEMON_NODE_FLAGS,
  });
}

test('a resident hook printing 300 MB while frozen: the daemon stays alive and small, thaws, and says how many lines it dropped', async () => {
  const fx = hooksForTest(defer, { '10-db': RECORD });
  // Resident: READY, then 300 MB of 1 KiB lines while holding, until released (stdin EOF).
  fx.add('20-chatty', `${RECORD}
if [ "$1" = freeze ]; then
  echo READY >&"$HVVSS_NOTIFY_FD"
  line=$(head -c 1023 /dev/zero | tr '\\0' x)
  yes "$line" | head -c 314572800
  echo "$HVVSS_HOOK flooded" >> "@LOG@"
  cat >/dev/null
fi`);
  const daemon = await startDaemon(fx, ['--max-frozen', '120']);
  const pid = daemon.child.pid as number;
  assert.equal((await emu.host.request('freeze')).result, 'success');
  await waitForFile(fx.logFile, (lines) => lines.includes('20-chatty flooded'), 120_000, 'the flood to end');
  const rss = rssMiB(pid);
  assert.ok(rss < RSS_CAP_MIB, `daemon RSS ${rss.toFixed(1)} MiB after the flood`);
  assert.equal((await emu.host.request('thaw')).result, 'success');
  await daemon.waitForLine(/\d+ log line\(s\) dropped while frozen/);
  assert.deepEqual(fx.log().slice(-2), ['20-chatty thaw host', '10-db thaw host']);
});

test('300 clients that connect to the control socket and never read: the daemon stays small and keeps answering the host', async () => {
  const fx = hooksForTest(defer, { '10-db': RECORD });
  const daemon = await startDaemon(fx);
  const pid = daemon.child.pid as number;
  const sockets: Socket[] = [];
  defer(() => sockets.forEach((s) => s.destroy()));
  const connected = Array.from({ length: 300 }, () => {
    const socket = createConnection(join(fx.root, 'run', 'hvvss.sock'));
    socket.on('error', () => {});
    // Asks for status and never reads the answer.
    socket.on('connect', () => socket.write('{"cmd":"status"}\n'));
    socket.pause();
    sockets.push(socket);
    return new Promise<void>((resolve) => {
      socket.once('connect', () => resolve());
      socket.once('close', () => resolve());
    });
  });
  await within(Promise.all(connected), 30_000, 'the clients to connect or be turned away');
  assert.equal((await emu.host.request('check')).result, 'success');
  assert.equal((await emu.host.request('freeze')).result, 'success');
  assert.equal((await emu.host.request('thaw')).result, 'success');
  const rss = rssMiB(pid);
  assert.ok(rss < RSS_CAP_MIB, `daemon RSS ${rss.toFixed(1)} MiB with 300 idle clients`);
});
