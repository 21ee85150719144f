// systemd/hvvss.service, the unit Linux guests install in place of hv_vss_daemon's: read as
// systemd reads it (systemd-analyze verify), and checked against what it must say: the device
// it needs, the units it replaces, the daemon's Node options, a stop that lets hvvss thaw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DAEMON_NODE_FLAGS } from '../../src/state/paths.ts';
import { missing } from '../support/requirements.ts';
import { startLinuxEmulator } from '../../src/emulator/host-client.ts';
import { hooksFixture, RECORD } from '../support/hooks-dir.ts';
import { HVVSS_BIN, within } from '../support/process.ts';
import { waitForFile } from '../support/watch-file.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';

const defer = cleanupsPerTest();
const UNIT = fileURLToPath(new URL('../../systemd/hvvss.service', import.meta.url));
const RC_SCRIPT = fileURLToPath(new URL('../../rc.d/hvvss', import.meta.url));

/** The unit's settings by section; a key set twice keeps every value. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const setting = /^([A-Za-z]+)=(.*)$/.exec(line);
    assert.ok(setting && current, `a setting inside a section: ${line}`);
    current.set(setting[1]!, [...(current.get(setting[1]!) ?? []), setting[2]!]);
  }
  return sections;
}

const unit = parseUnit(readFileSync(UNIT, 'utf8'));
const one = (section: string, key: string): string => {
  const values = unit.get(section)?.get(key);
  assert.equal(values?.length, 1, `[${section}] ${key}= set once`);
  return values[0]!;
};

test('the unit starts only where the Linux VSS device exists and replaces every distribution\'s hv_vss_daemon unit', () => {
  assert.equal(one('Unit', 'ConditionPathExists'), '/dev/vmbus/hv_vss');
  const conflicts = one('Unit', 'Conflicts').split(/\s+/);
  for (const name of ['hv-vss-daemon.service', 'hyperv-daemons.hv-vss-daemon.service', 'hypervvssd.service', 'hv_vss_daemon.service']) {
    assert.ok(conflicts.includes(name), `Conflicts= names ${name}`);
  }
  assert.equal(one('Install', 'WantedBy'), 'multi-user.target');
});

test('ExecStart runs the daemon in the foreground with the daemon\'s Node options, as rc.d does', () => {
  const words = one('Service', 'ExecStart').split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ['/usr/bin/env', 'node']);
  assert.deepEqual(words.slice(2, 2 + DAEMON_NODE_FLAGS.length), [...DAEMON_NODE_FLAGS]);
  const [script, ...args] = words.slice(2 + DAEMON_NODE_FLAGS.length);
  assert.match(script!, /\/node_modules\/hvvss\/bin\/run\.cjs$/);
  assert.deepEqual(args, ['daemon', '--foreground']);
});

test('stopping signals hvvss alone and waits as long as rc.d does, so it can thaw before anything is killed', () => {
  assert.equal(one('Service', 'KillMode'), 'mixed');
  const rcTimeout = /hvvss_stop_timeout:=(\d+)/.exec(readFileSync(RC_SCRIPT, 'utf8'))?.[1];
  assert.equal(one('Service', 'TimeoutStopSec'), rcTimeout);
  assert.equal(one('Service', 'Restart'), 'on-failure');
});

test('systemd-analyze verify accepts the unit', (t) => {
  const probe = spawnSync('systemd-analyze', ['--version']);
  if (probe.error) return missing(t, 'systemd-analyze is not installed (Debian package systemd)');
  // Verified as installed, but with this machine's node: the unit's own command must exist
  // wherever verify runs, and node need not be in /usr/bin here.
  const dir = mkdtempSync(join(tmpdir(), 'hvvss-unit-'));
  try {
    const copy = join(dir, 'hvvss.service');
    writeFileSync(copy, readFileSync(UNIT, 'utf8').replace('ExecStart=/usr/bin/env node', `ExecStart=${process.execPath}`));
    const verify = spawnSync('systemd-analyze', ['verify', '--man=no', copy], { encoding: 'utf8' });
    assert.equal(verify.status, 0, verify.stderr);
    assert.equal(verify.stderr.trim(), '', 'no warnings');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the unit\'s command, as systemd runs it (stderr is the journal), registers on the emulated /dev/vmbus/hv_vss with no flag but the unit\'s, logs with priorities, and exits 0 on SIGTERM', async () => {
  const words = one('Service', 'ExecStart').split(/\s+/);
  // This machine's node and this checkout's script in place of the installed ones; the rest verbatim.
  const args = words.slice(2).map((word) => (/\/bin\/run\.cjs$/.test(word) ? HVVSS_BIN : word));
  const emu = await startLinuxEmulator();
  defer(() => emu.stop());
  const fx = hooksFixture({ '10-db': RECORD });
  defer(() => fx.cleanup());
  // What systemd sets that hvvss reads: stderr connected to journald, JOURNAL_STREAM naming it.
  // The paths a drop-in would set stay this test's own (the device's default name on Linux is
  // /dev/vmbus/hv_vss; here only its directory differs, so the protocol is still told by the name).
  const stderrPath = join(fx.root, 'journal');
  const stderr = openSync(stderrPath, 'w');
  const { dev, ino } = fstatSync(stderr);
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    JOURNAL_STREAM: `${dev}:${ino}`,
    HVVSS_DEVICE: emu.device,
    HVVSS_HOOKS_DIR: fx.dir,
    HVVSS_STATE_DIR: join(fx.root, 'state'),
    HVVSS_SOCKET: join(fx.root, 'run', 'hvvss.sock'),
    HVVSS_PIDFILE: join(fx.root, 'run', 'hvvss.pid'),
  };
  const daemon = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', stderr], env });
  closeSync(stderr);
  const exited = new Promise<number | null>((resolve) => daemon.on('exit', (code) => resolve(code)));
  defer(() => daemon.kill('SIGKILL'));
  const lines = await waitForFile(stderrPath, (l) => l.some((line) => line.includes('registered on')), 20_000, 'the daemon to register');
  assert.ok(lines.every((line) => /^<[0-7]>\S/.test(line)), `every line has a journald priority:\n${lines.join('\n')}`);
  assert.ok(lines.some((line) => line.startsWith('<6>') && line.includes(emu.device)), 'registration is logged at info, naming the device');
  daemon.kill('SIGTERM');
  assert.equal(await within(exited, 20_000, 'the daemon to exit on SIGTERM'), 0);
});
