// A real frozen file system under the daemon's feet: its state directory and its log file are on
// a loop-mounted ext4 that the last freeze hook freezes with fsfreeze -f (FIFREEZE). FREEZE and
// THAW must still be answered in time, the watchdog must still thaw, and a daemon killed while
// that file system is frozen must be recoverable: nothing the daemon does between the first
// freeze hook and the last thaw may write to a file.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { emulatorPerFile } from '../support/emulator.ts';
import { HVVSS_BIN, within, type Exit } from '../support/process.ts';
import { hooksForTest, RECORD, type HooksFixture } from '../support/hooks-dir.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { daemonCommandLine, KERNEL_TIMEOUT_S, SHORT_LIMITS, spawnDaemon } from '../support/daemon-fixture.ts';
import { waitForFile } from '../support/watch-file.ts';
import { assertFreezable, loopMount, thawLoop, type LoopMount } from '../support/loop-fs.ts';
import { missing } from '../support/requirements.ts';
import { DAEMON_NODE_FLAGS } from '../../src/state/paths.ts';

const defer = cleanupsPerTest();
const emu = emulatorPerFile({ timeoutMs: KERNEL_TIMEOUT_S * 1000 });

interface Setup {
  readonly fx: HooksFixture;
  readonly mnt: LoopMount;
  readonly stateDir: string;
  readonly logPath: string;
}

function setup(t: TestContext): Setup | undefined {
  for (const tool of ['mkfs.ext4', 'losetup', 'fsfreeze']) {
    if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).error) {
      missing(t, `${tool} is missing: apt-get install util-linux e2fsprogs`);
      return undefined;
    }
  }
  const mnt = loopMount('ext4');
  // Teardown thaws before anything else: a process blocked on a frozen file system cannot be killed.
  defer(() => mnt.cleanup());
  assertFreezable(mnt.mountpoint);
  const fx = hooksForTest(defer, { '10-db': RECORD });
  fx.add('90-fsfreeze', `${RECORD}\ncase "$1" in\n  freeze) fsfreeze -f ${mnt.mountpoint} ;;\n  thaw) fsfreeze -u ${mnt.mountpoint} 2>/dev/null || true ;;\nesac`);
  return { fx, mnt, stateDir: join(mnt.mountpoint, 'state'), logPath: join(mnt.mountpoint, 'daemon.log') };
}

/** hvvss daemon -n with its standard error appended to a file on the loop mount. */
function startDaemon(s: Setup, extra: string[] = []): { exited: Promise<Exit>; kill: (signal: NodeJS.Signals) => void } {
  const log = openSync(s.logPath, 'a');
  const args = daemonCommandLine({
    device: emu.appDevice, hooksDir: s.fx.dir, root: s.fx.root, stateDir: s.stateDir,
    defaults: SHORT_LIMITS, extra,
  });
  const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, HVVSS_BIN, ...args], { stdio: ['ignore', log, log] });
  closeSync(log);
  const exited = new Promise<Exit>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  defer(async () => {
    thawLoop(s.mnt.mountpoint);
    child.kill('SIGKILL');
    await exited;
  });
  return { exited, kill: (signal) => child.kill(signal) };
}

const registered = (s: Setup) => waitForFile(s.logPath, (lines) => lines.some((l) => /registered on /.test(l)));

/** A writer on the frozen file system: blocks while it is frozen, completes once thawed. */
function writer(s: Setup): Promise<Exit> {
  const child = spawn('/bin/sh', ['-c', `echo written > ${join(s.mnt.mountpoint, 'written')}`], { stdio: 'ignore' });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
}

test('state and log on a file system the last hook freezes: FREEZE and THAW answered in time, a writer blocks until the thaw', async (t) => {
  const s = setup(t);
  if (!s) return;
  startDaemon(s);
  await registered(s);
  assert.equal((await emu.host.request('check')).result, 'success');
  const freeze = await emu.host.request('freeze');
  assert.equal(freeze.result, 'success', JSON.stringify(freeze));
  const written = writer(s);
  // Frozen: nothing can have been written yet (reads do not block on a frozen file system).
  assert.equal(existsSync(join(s.mnt.mountpoint, 'written')), false);
  const thaw = await emu.host.request('thaw');
  assert.equal(thaw.result, 'success', JSON.stringify(thaw));
  assert.equal((await within(written, 10_000, 'the writer after the thaw')).code, 0);
  assert.deepEqual(s.fx.log(), ['10-db check host', '90-fsfreeze check host', '10-db freeze host', '90-fsfreeze freeze host', '90-fsfreeze thaw host', '10-db thaw host']);
  // The lines held while frozen reach the log once thawed, the freeze's answer among them.
  await waitForFile(s.logPath, (lines) => lines.some((l) => /answered success to freeze/.test(l)) && lines.some((l) => /answered success to thaw/.test(l)));
  assert.equal(JSON.parse(readFileSync(join(s.stateDir, 'frozen.json'), 'utf8')).frozen, false);
});

test('a host that never sends THAW while the state file system is frozen: the watchdog thaws it', async (t) => {
  const s = setup(t);
  if (!s) return;
  startDaemon(s, ['--max-frozen', '1']);
  await registered(s);
  assert.equal((await emu.host.request('freeze')).result, 'success');
  const written = writer(s);
  await waitForFile(s.fx.logFile, (lines) => lines.includes('10-db thaw watchdog'));
  assert.equal((await within(written, 10_000, 'the writer after the watchdog thaw')).code, 0);
  await waitForFile(s.logPath, (lines) => lines.some((l) => /WATCHDOG: frozen since/.test(l)) && lines.some((l) => /thaw \(watchdog, msgid \d+\): success/.test(l)));
  assert.equal(JSON.parse(readFileSync(join(s.stateDir, 'frozen.json'), 'utf8')).frozen, false);
});

test('SIGKILL while the state file system is frozen, then a restart: recovery thaws it before registering', async (t) => {
  const s = setup(t);
  if (!s) return;
  const first = startDaemon(s);
  await registered(s);
  assert.equal((await emu.host.request('freeze')).result, 'success');
  first.kill('SIGKILL');
  await first.exited;
  // The new daemon logs to a pipe: its log file would be on the frozen file system until recovery.
  await spawnDaemon(defer, {
    device: emu.appDevice, hooksDir: s.fx.dir, root: s.fx.root, stateDir: s.stateDir,
    defaults: { '--kernel-timeout': String(KERNEL_TIMEOUT_S), '--timeout': '2' }, thaw: [s.mnt.mountpoint],
  });
  assert.deepEqual(s.fx.log().slice(-2), ['90-fsfreeze thaw recovery', '10-db thaw recovery']);
  assert.equal((await within(writer(s), 10_000, 'a writer after recovery')).code, 0);
});
