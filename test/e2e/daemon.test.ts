// hvvss daemon as a separate process against the emulated kernel, with real hook scripts.
// Every test ends by checking that nothing is left frozen.
import { DAEMON_NODE_FLAGS } from '../../src/state/paths.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { emulatorPerFile } from '../support/emulator.ts';
import { flat, hvvssRun, within, type WatchedProcess } from '../support/process.ts';
import { hooksForTest, RECORD, type HooksFixture } from '../support/hooks-dir.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { daemonCommandLine, type DaemonStart, KERNEL_TIMEOUT_S, SHORT_LIMITS, spawnDaemon } from '../support/daemon-fixture.ts';
import { waitForFile } from '../support/watch-file.ts';

const LIMITS = { ...SHORT_LIMITS, '--hook-timeout': '0.5' };

const defer = cleanupsPerTest();
const emu = emulatorPerFile({ timeoutMs: KERNEL_TIMEOUT_S * 1000 });
const fixture = (hooks: Record<string, string> = {}): HooksFixture => hooksForTest(defer, hooks);

function daemonOf(fx: HooksFixture, extra: string[] = []): DaemonStart {
  return { device: emu.appDevice, hooksDir: fx.dir, root: fx.root, defaults: LIMITS, extra };
}

const daemonArgs = (fx: HooksFixture, extra: string[] = []): string[] => daemonCommandLine(daemonOf(fx, extra));
const startDaemon = (fx: HooksFixture, extra: string[] = []): Promise<WatchedProcess> => spawnDaemon(defer, daemonOf(fx, extra));

/** Every hook that was frozen has been thawed since (its last freeze/thaw line is a thaw). */
function assertNothingFrozen(fx: HooksFixture): void {
  const last = new Map<string, string>();
  for (const line of fx.log()) {
    const [hook, op] = line.split(' ');
    if (hook && (op === 'freeze' || op === 'thaw')) last.set(hook, op);
  }
  for (const [hook, op] of last) assert.equal(op, 'thaw', `${hook} is left frozen; hooks log:\n${fx.log().join('\n')}`);
}

/** The freeze journal (absent until the first freeze was recorded or a thaw ran). */
function journal(fx: HooksFixture): { frozen: boolean } {
  const path = join(fx.root, 'state', 'frozen.json');
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : { frozen: false };
}

test('check and freeze run in name order, thaw in reverse, with the documented arguments and environment', async () => {
  const fx = fixture({ '10-first': RECORD, '20-second': RECORD });
  fx.add("30-env", `${RECORD}\nenv | sort > "@LOG@.env.$1"; pwd > "@LOG@.cwd"\n# during freeze stdin is the release channel of resident hooks: read it only elsewhere\n[ "$1" = freeze ] || cat > "@LOG@.stdin.$1"`);
  fx.add('40-skipped.sample', RECORD);
  process.env.HVVSS_TEST_SECRET = 'leak';
  const daemon = await startDaemon(fx);
  delete process.env.HVVSS_TEST_SECRET;
  const check = await emu.host.request('check');
  const freeze = await emu.host.request('freeze');
  const thaw = await emu.host.request('thaw');
  assert.deepEqual([check.result, freeze.result, thaw.result], ['success', 'success', 'success']);
  assert.deepEqual(fx.log(), [
    '10-first check host', '20-second check host', '30-env check host',
    '10-first freeze host', '20-second freeze host', '30-env freeze host',
    '30-env thaw host', '20-second thaw host', '10-first thaw host',
  ]);
  const env = readFileSync(`${fx.logFile}.env.thaw`, 'utf8').trim().split('\n');
  const vars = Object.fromEntries(env.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  assert.equal(vars.HVVSS_OP, 'thaw');
  assert.equal(vars.HVVSS_REASON, 'host');
  assert.equal(vars.HVVSS_MSGID, thaw.msgid);
  assert.equal(vars.HVVSS_HOOK, '30-env');
  assert.match(vars.PATH ?? '', /\/usr\/local\/bin/);
  assert.ok(Number(vars.HVVSS_DEADLINE) >= 0 && Number(vars.HVVSS_DEADLINE) <= 2, `HVVSS_DEADLINE=${vars.HVVSS_DEADLINE}`);
  assert.equal(vars.HVVSS_TEST_SECRET, undefined, 'the environment of whoever started the daemon must not leak into hooks');
  assert.equal(readFileSync(`${fx.logFile}.cwd`, 'utf8').trim(), '/');
  assert.equal(readFileSync(`${fx.logFile}.stdin.check`, 'utf8'), '', 'stdin is /dev/null');
  await daemon.waitForLine(/hook 30-env thaw \(host\): ok/);
  assert.equal((await daemon.stop()).code, 0);
});

test('a failing freeze hook: answered failure at once, the started hooks rolled back in reverse, later hooks never run', async () => {
  const fx = fixture({ '10-a': RECORD, '20-fails': `${RECORD}\n[ "$1" = freeze ] && exit 3\nexit 0`, '30-never': RECORD });
  const daemon = await startDaemon(fx);
  const result = await emu.host.request('freeze');
  assert.equal(result.result, 'fail');
  assert.equal(result.reason, 'app-failed');
  await daemon.waitForLine(/thaw \(rollback, msgid \d+\): success/);
  assert.deepEqual(fx.log(), ['10-a freeze host', '20-fails freeze host', '20-fails thaw rollback', '10-a thaw rollback']);
  assertNothingFrozen(fx);
  assert.equal(journal(fx).frozen, false);
});

for (const [name, body] of [
  ['hangs', `${RECORD}\n[ "$1" = freeze ] && exec sleep 60\nexit 0`],
  ['ignores SIGTERM', `${RECORD}\nif [ "$1" = freeze ]; then trap '' TERM; while :; do sleep 1; done; fi`],
  ['fails leaving a child holding its stdout', `${RECORD}\nif [ "$1" = freeze ]; then sleep 60 & echo $! > "@LOG@.bg"; exit 1; fi`],
] as const) {
  test(`a freeze hook that ${name} is answered failure before the kernel's limit and rolled back`, async () => {
    const fx = fixture({ '10-ok': RECORD, '20-bad': body });
    defer(() => killRecorded(`${fx.logFile}.bg`));
    const daemon = await startDaemon(fx);
    const result = await emu.host.request('freeze');
    assert.equal(result.result, 'fail');
    assert.equal(result.reason, 'app-failed', `answered by the daemon, not timed out by the kernel: ${JSON.stringify(result)}`);
    await daemon.waitForLine(/thaw \(rollback, msgid \d+\)/);
    assert.deepEqual(fx.log().slice(-2), ['20-bad thaw rollback', '10-ok thaw rollback']);
    assertNothingFrozen(fx);
  });
}

test('while a slow rollback runs, the next host request is answered at once instead of timing out', async () => {
  // Thaws that ignore SIGTERM take hook-timeout + kill-grace each: the rollback outlasts the kernel's limit.
  const slowThaw = `${RECORD}\nif [ "$1" = thaw ]; then trap '' TERM; while :; do sleep 1; done; fi`;
  const fx = fixture({ '10-a': slowThaw, '20-b': slowThaw, '30-c': slowThaw, '40-fails': `${RECORD}\n[ "$1" = freeze ] && exit 1\nexit 0` });
  const daemon = await startDaemon(fx);
  const freeze = await emu.host.request('freeze');
  assert.equal(freeze.reason, 'app-failed');
  const check = await emu.host.request('check');
  assert.equal(check.result, 'fail');
  assert.equal(check.reason, 'app-failed', `answered by the daemon, not timed out: ${JSON.stringify(check)}`);
  await daemon.waitForLine(/CHECK \(msgid \d+\) answered failure at once: the agent is busy rolling back a failed freeze/);
  await daemon.waitForLine(/thaw \(rollback, msgid \d+\): fail/, 15_000);
  assertNothingFrozen(fx);
});

test('a hook that exits but leaves a child holding its stdout does not stall the freeze', async () => {
  const fx = fixture({ '10-bg': `${RECORD}\nif [ "$1" = freeze ]; then sleep 60 & echo $! > "@LOG@.bg"; fi\nexit 0` });
  defer(() => killRecorded(`${fx.logFile}.bg`));
  const daemon = await startDaemon(fx);
  assert.equal((await emu.host.request('freeze')).result, 'success');
  assert.equal((await emu.host.request('thaw')).result, 'success');
  await daemon.waitForLine(/left a background process holding its output/);
  assertNothingFrozen(fx);
});

test('a daemon stalled past the kernel limit during a freeze rolls it back when it resumes', async () => {
  // Still freezing for a second after it recorded its start: the daemon is stopped meanwhile.
  const fx = fixture({ '10-slow': `${RECORD}\n[ "$1" = freeze ] && sleep 1\nexit 0` });
  const daemon = await startDaemon(fx);
  const pending = emu.host.request('freeze');
  // The daemon's own output is held from the freeze on: the hook's record says it started.
  await waitForFile(fx.logFile, (lines) => lines.includes('10-slow freeze host'));
  daemon.child.kill('SIGSTOP');
  const result = await pending;
  daemon.child.kill('SIGCONT');
  assert.equal(result.result, 'fail');
  assert.equal(result.reason, 'timeout');
  await daemon.waitForLine(/thaw \(rollback, msgid \d+\): success/);
  await emu.host.waitForEvent((e) => e.kind === 'stale-write' && e.msgid === result.msgid);
  assertNothingFrozen(fx);
});

test('a host that never sends THAW: the watchdog thaws', async () => {
  const fx = fixture({ '10-db': RECORD });
  const daemon = await startDaemon(fx, ['--max-frozen', '0.5']);
  assert.equal((await emu.host.request('freeze')).result, 'success');
  await daemon.waitForLine(/WATCHDOG: frozen since .* no THAW within 0.5 s/);
  await daemon.waitForLine(/thaw \(watchdog, msgid \d+\): success/);
  assert.deepEqual(fx.log(), ['10-db freeze host', '10-db thaw watchdog']);
  // A THAW arriving later finds nothing frozen and succeeds.
  assert.equal((await emu.host.request('thaw')).result, 'success');
});

test('SIGKILL while frozen, then a restart: the hooks are thawed before the daemon registers', async () => {
  const fx = fixture({ '10-a': RECORD, '20-b': RECORD });
  const first = await startDaemon(fx);
  assert.equal((await emu.host.request('freeze')).result, 'success');
  assert.equal(journal(fx).frozen, true);
  first.child.kill('SIGKILL');
  await first.exited;
  const second = await startDaemon(fx);
  // Recovery ran to completion before registration: the thaws are already logged.
  assert.deepEqual(fx.log(), ['10-a freeze host', '20-b freeze host', '20-b thaw recovery', '10-a thaw recovery']);
  const output = second.output;
  assert.ok(output.indexOf('thawing them before registering') < output.indexOf('registered on'), output);
  assert.equal(journal(fx).frozen, false);
});

test('SIGTERM while frozen thaws, then exits 0', async () => {
  const fx = fixture({ '10-a': RECORD });
  const daemon = await startDaemon(fx);
  assert.equal((await emu.host.request('freeze')).result, 'success');
  const exit = await daemon.stop('SIGTERM');
  assert.equal(exit.code, 0, daemon.output);
  assert.deepEqual(fx.log(), ['10-a freeze host', '10-a thaw shutdown']);
  assert.equal(journal(fx).frozen, false);
});

test('a resident hook holds its session through the freeze and lets go at thaw', async () => {
  const fx = fixture();
  fx.add('10-held', `${RECORD}
if [ "$1" = freeze ]; then
  echo READY >&"$HVVSS_NOTIFY_FD"
  cat >/dev/null   # held until the daemon closes our stdin
  echo "10-held released" >> "@LOG@"
fi`);
  const daemon = await startDaemon(fx);
  assert.equal((await emu.host.request('freeze')).result, 'success');
  const status = await readStatus(join(fx.root, 'run', 'hvvss.sock'));
  assert.equal(status.phase, 'frozen');
  assert.deepEqual(status.frozen.hooks, ['10-held']);
  assert.ok(!daemon.output.includes('answered success to freeze'), 'log lines are held in memory while frozen');
  assert.equal((await emu.host.request('thaw')).result, 'success');
  assert.deepEqual(fx.log(), ['10-held freeze host', '10-held released', '10-held thaw host']);
  await daemon.waitForLine(/answered success to freeze/);
});

test('a resident hook that dies while frozen is a broken freeze: the thaw answers failure', async () => {
  const fx = fixture();
  fx.add('10-dies', `${RECORD}
if [ "$1" = freeze ]; then echo $$ > "@LOG@.pid"; echo READY >&"$HVVSS_NOTIFY_FD"; exec sleep 60; fi`);
  const daemon = await startDaemon(fx);
  assert.equal((await emu.host.request('freeze')).result, 'success');
  const status = await readStatus(join(fx.root, 'run', 'hvvss.sock'));
  assert.equal(status.phase, 'frozen');
  // Kill the resident process. The daemon notices at once (the hooks runner's tests show the
  // event fires on the exit), but its log line is held in memory until the thaw.
  process.kill(Number(readFileSync(`${fx.logFile}.pid`, 'utf8')), 'SIGKILL');
  const thaw = await emu.host.request('thaw');
  assert.equal(thaw.result, 'fail');
  await daemon.waitForLine(/BROKEN FREEZE|was killed by SIGKILL, not released: broken freeze/);
  assertNothingFrozen(fx);
});

test('a resident hook killed just before THAW arrives is a broken freeze too', async () => {
  const fx = fixture();
  fx.add('10-dies', `${RECORD}
if [ "$1" = freeze ]; then echo $$ > "@LOG@.pid"; echo READY >&"$HVVSS_NOTIFY_FD"; exec sleep 60; fi`);
  await startDaemon(fx);
  assert.equal((await emu.host.request('freeze')).result, 'success');
  process.kill(Number(readFileSync(`${fx.logFile}.pid`, 'utf8')), 'SIGKILL');
  assert.equal((await emu.host.request('thaw')).result, 'fail');
  assertNothingFrozen(fx);
});

test('insecure hooks are refused and CHECK fails with a clear log line', async () => {
  const cases: Array<[string, (fx: HooksFixture) => void, RegExp]> = [
    ['group-writable', (fx) => fx.add('10-gw', RECORD, 0o775), /hook 10-gw REFUSED: .*group-writable/],
    ['wrong owner', (fx) => chownSync(fx.add('10-owner', RECORD), 65534, 65534), /hook 10-owner REFUSED: .*owned by uid 65534/],
    ['symlink to a writable file', (fx) => {
      const target = join(fx.root, 'target');
      writeFileSync(target, `#!/bin/sh\n${RECORD.replace('@LOG@', fx.logFile)}\n`);
      chmodSync(target, 0o777);
      symlinkSync(target, join(fx.dir, '10-link'));
    }, /hook 10-link REFUSED: .*symlink to .*target.*writable/],
  ];
  for (const [what, make, pattern] of cases) {
    const fx = fixture({ '20-good': RECORD });
    make(fx);
    const daemon = await startDaemon(fx);
    const check = await emu.host.request('check');
    assert.equal(check.result, 'fail', what);
    assert.equal(check.reason, 'app-failed', what);
    await daemon.waitForLine(pattern);
    assert.deepEqual(fx.log(), [], `${what}: no hook may run`);
    await daemon.stop();
  }
});

test('an unknown operation from the kernel is answered failure, echoing opt and msgid', async () => {
  const fx = fixture({ '10-a': RECORD });
  const daemon = await startDaemon(fx);
  const result = await emu.host.request({ opt: 9 });
  assert.equal(result.result, 'fail');
  assert.equal(result.reason, 'app-failed');
  await daemon.waitForLine(/unknown operation 9 from the kernel/);
  const violations = (await emu.host.events()).filter((e) => e.kind === 'violation');
  assert.deepEqual(violations, []);
  assert.deepEqual(fx.log(), []);
});

test('a second daemon says who holds the pidfile; a bad --timeout is refused', async () => {
  const fx = fixture({ '10-a': RECORD });
  const first = await startDaemon(fx);
  const second = await hvvssRun(daemonArgs(fx));
  assert.equal(second.code, 1);
  assert.match(flat(second.output), new RegExp(`another hvvss daemon \\(pid ${first.child.pid}\\) is running`));
  const bad = await hvvssRun(['daemon', '-n', '--protocol', 'freebsd', '--timeout', '20']);
  assert.notEqual(bad.code, 0);
  assert.match(flat(bad.output), /--timeout 20 must be below the kernel's limit of 15 s/);
  const grace = await hvvssRun(['daemon', '-n', '--timeout', '1', '--kill-grace', '2']);
  assert.notEqual(grace.code, 0);
  assert.match(flat(grace.output), /--kill-grace 2 must be shorter than --timeout 1/);
});

test('without -n it detaches once registered; a missing device makes the parent fail with the reason', async () => {
  const fx = fixture({ '10-a': RECORD });
  const missing = await hvvssRun(daemonArgs(fx).filter((a) => a !== '-n').map((a) => (a === emu.appDevice ? `${emu.dir}/absent` : a)));
  assert.equal(missing.code, 1);
  assert.match(flat(missing.output), /absent does not exist/);
  const started = await hvvssRun(daemonArgs(fx).filter((a) => a !== '-n'));
  assert.equal(started.code, 0, started.output);
  const pid = Number(readFileSync(join(fx.root, 'run', 'hvvss.pid'), 'utf8'));
  assert.ok(pid > 0);
  // The long-running copy got the daemon's Node options (bounded heap, no idle wake-ups).
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  for (const flag of DAEMON_NODE_FLAGS) assert.ok(cmdline.includes(flag), `${flag} in ${cmdline.join(' ')}`);
  let seq = 0;
  try {
    assert.equal((await emu.host.request('check')).result, 'success');
    seq = (await emu.host.events()).at(-1)?.seq ?? 0;
  } finally {
    process.kill(pid, 'SIGTERM');
  }
  await within(emu.host.waitForEvent((e) => e.kind === 'release' && e.side === 'app' && e.seq > seq), 10_000, 'the detached daemon to unregister');
});

/** Kills a background process whose pid a fixture recorded, if it is still there. */
function killRecorded(pidFile: string): void {
  if (!existsSync(pidFile)) return;
  try {
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
  } catch {
    // already gone
  }
}

async function readStatus(socket: string): Promise<{ phase: string; frozen: { hooks: string[] } }> {
  const conn = createConnection(socket);
  let text = '';
  conn.setEncoding('utf8');
  conn.on('connect', () => conn.write('{"cmd":"status"}\n'));
  conn.on('data', (chunk: string) => (text += chunk));
  await within(new Promise((resolve) => conn.on('end', resolve)), 5_000, 'the status socket');
  return JSON.parse(text);
}
