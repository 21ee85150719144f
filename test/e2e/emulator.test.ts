// The emulated kernel's rules as a host and a real agent see them, through FUSE with real
// open/poll/ioctl: the fs daemon stage, a vanished fs daemon, an fs failure after the
// application was frozen, and the places where hv_snapshot.c does something surprising.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { startEmulator, type RunningEmulator } from '../../src/emulator/host-client.ts';
import { nodeVersionProblem } from '../../src/emulator/node-version.ts';
import * as libc from '../../src/native/libc.ts';
import { ioctlRequest } from '../../src/native/ioctl.ts';
import { hvvss, within, WatchedProcess } from '../support/process.ts';
import { hooksForTest, RECORD, type HooksFixture } from '../support/hooks-dir.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { spawnDaemon } from '../support/daemon-fixture.ts';
import { waitForFile } from '../support/watch-file.ts';
import { missing } from '../support/requirements.ts';

const defer = cleanupsPerTest();

async function emulator(fsDaemon: 'success' | 'fail' | 'late' | 'none', options: { timeoutMs?: number; hostWaitMs?: number } = {}): Promise<RunningEmulator> {
  const emu = await startEmulator({ timeoutMs: options.timeoutMs ?? 1000, fsDaemon, ...(options.hostWaitMs ? { hostWaitMs: options.hostWaitMs } : {}) });
  defer(() => emu.stop());
  return emu;
}

/** The daemon's limits under a kernel limit of 3 s and of 1 s; the watchdog soon after a FREEZE. */
const LIMITS_3S = { '--kernel-timeout': '3', '--timeout': '2.5', '--hook-timeout': '2', '--kill-grace': '0.2', '--max-frozen': '0.5' };
const LIMITS_1S = { '--kernel-timeout': '1', '--timeout': '0.8', '--hook-timeout': '0.5', '--kill-grace': '0.1', '--max-frozen': '0.3' };

/** hvvss daemon on the emulator's app device, stopped with SIGTERM after the test. */
function startDaemon(emu: RunningEmulator, fx: HooksFixture, limits: Record<string, string>): Promise<WatchedProcess> {
  return spawnDaemon(defer, { device: emu.appDevice, hooksDir: fx.dir, root: fx.root, defaults: limits, teardown: 'terminate' });
}

async function simulate(emu: RunningEmulator, extra: readonly string[] = ['--kernel-timeout', '1']): Promise<WatchedProcess> {
  const proc = hvvss(['simulate', '-n', '--wait', '0', '--device', emu.appDevice, ...extra]);
  defer(() => proc.stop());
  await proc.waitForLine(/registered on /);
  return proc;
}

test('an fs daemon failure fails the host request after the app said yes', async () => {
  const emu = await emulator('fail');
  await simulate(emu);
  const result = await emu.host.request('freeze');
  assert.equal(result.result, 'fail');
  assert.equal(result.reason, 'fs-failed');
  assert.deepEqual(result.stages.map((s) => [s.side, s.status]), [['app', 'success'], ['fs', 'fail']]);
});

test('a late fs daemon makes the transaction time out in the fs stage; its answer is stale', async () => {
  const emu = await emulator('late');
  await simulate(emu);
  const result = await emu.host.request('check');
  assert.equal(result.reason, 'timeout');
  assert.equal(result.timedOutIn, 'fs');
  await emu.host.waitForEvent((e) => e.kind === 'stale-write' && e.side === 'fs' && e.msgid === result.msgid);
});

test('an fs daemon that registered and went away: every request fails at once, the app is not asked', async () => {
  const emu = await emulator('success');
  await simulate(emu);
  await emu.host.fsDaemon('stop');
  const result = await emu.host.request('freeze');
  assert.equal(result.result, 'fail');
  assert.equal(result.reason, 'fs-daemon-gone');
  assert.deepEqual(result.stages, []);
});

test('a second host request while one is in flight is ignored: no reply, and no agent hears of it', async () => {
  const emu = await emulator('success', { hostWaitMs: 1500 });
  const agent = hvvss(['simulate', '-n', '--wait', '0.3', '--kernel-timeout', '1', '--device', emu.appDevice]);
  defer(() => agent.stop());
  await agent.waitForLine(/registered on /);
  const first = emu.host.request('freeze');
  await agent.waitForLine(/received freeze/);
  const second = emu.host.request('thaw');
  await emu.host.waitForEvent((e) => e.kind === 'host-ignored' && e.op === 'thaw');
  assert.equal((await first).result, 'success');
  const ignored = await second;
  assert.equal(ignored.result, 'unanswered');
  assert.equal(ignored.reason, 'ignored-busy');
  assert.ok(!agent.lines.some((l) => /received thaw/.test(l)), agent.output);
});

test('messages sent before the fs daemon ever registered are processed when it does, however old: the first runs, the rest are ignored', async () => {
  const emu = await emulator('none', { hostWaitMs: 300 });
  const agent = await simulate(emu);
  const check = await emu.host.request('check');
  const freeze = await emu.host.request('freeze');
  assert.deepEqual([check.reason, freeze.reason], ['fs-daemon-never-registered', 'fs-daemon-never-registered']);
  assert.ok(!agent.lines.some((l) => /received/.test(l)), 'nothing reaches the app before the fs daemon registers');
  await emu.host.fsDaemon('success');
  await agent.waitForLine(/received check/);
  await emu.host.waitForEvent((e) => e.kind === 'host-ignored' && e.op === 'freeze');
  const late = await emu.host.waitForEvent((e) => e.kind === 'late-reply');
  assert.ok(late.kind === 'late-reply' && late.result.op === 'check' && late.result.result === 'success');
});

test('an app answer while the fs daemon is gone is dropped: the host fails at the timeout, and the daemon watchdog thaws', async () => {
  const emu = await emulator('success', { timeoutMs: 3000 });
  const fx = hooksForTest(defer, { '10-db': `${RECORD}\nif [ "$1" = freeze ]; then read go < "@LOG@.go"; fi\nexit 0` });
  assert.equal(spawnSync('mkfifo', [`${fx.logFile}.go`]).status, 0, 'mkfifo');
  const daemon = await startDaemon(emu, fx, LIMITS_3S);
  const pending = emu.host.request('freeze');
  // The daemon's output is held while frozen: the hook's own record says its freeze started.
  await waitForFile(fx.logFile, (lines) => lines.includes('10-db freeze host'));
  await emu.host.fsDaemon('stop');
  await writeFile(`${fx.logFile}.go`, 'go\n');
  await emu.host.waitForEvent((e) => e.kind === 'stranded' && e.side === 'app');
  const result = await pending;
  assert.equal(result.result, 'fail');
  assert.equal(result.reason, 'stranded');
  assert.deepEqual(result.stages.map((s) => [s.side, s.status]), [['app', 'success']]);
  // The daemon answered in time, so it believes the host has the freeze; no THAW ever comes.
  await daemon.waitForLine(/thaw \(watchdog, msgid \d+\): success/);
  assert.deepEqual(fx.log(), ['10-db freeze host', '10-db thaw watchdog']);
});

test('a FREEZE the host gave up on before the fs daemon came is still delivered: the daemon freezes, nobody sends THAW, the watchdog thaws', async () => {
  const emu = await emulator('none', { timeoutMs: 3000, hostWaitMs: 300 });
  const fx = hooksForTest(defer, { '10-db': RECORD });
  const daemon = await startDaemon(emu, fx, LIMITS_3S);
  const freeze = await emu.host.request('freeze');
  assert.equal(freeze.result, 'unanswered');
  assert.deepEqual(fx.log(), []);
  await emu.host.fsDaemon('success');
  const late = await emu.host.waitForEvent((e) => e.kind === 'late-reply');
  assert.ok(late.kind === 'late-reply' && late.result.op === 'freeze' && late.result.result === 'success');
  await daemon.waitForLine(/thaw \(watchdog, msgid \d+\): success/);
  assert.deepEqual(fx.log(), ['10-db freeze host', '10-db thaw watchdog']);
});

test('every reply to a CHECK carries VSS_HBU_NO_AUTO_RECOVERY, failures too', async () => {
  const emu = await emulator('fail');
  await simulate(emu);
  const check = await emu.host.request('check');
  assert.equal(check.reason, 'fs-failed');
  assert.equal(check.flags, 5);
});

test('the devices are root:wheel 0640: a wheel member opens read-only (and registers), for writing only root', async (t) => {
  if (spawnSync('setpriv', ['--version']).status !== 0) return missing(t, 'setpriv (util-linux) is not installed');
  const emu = await emulator('success');
  chmodSync(emu.dir, 0o755); // let the unprivileged callers reach the mount
  const as = (groups: string, redirect: string) =>
    spawnSync('setpriv', ['--reuid=65534', '--regid=65534', groups, '/bin/sh', '-c', `exec 3${redirect}"$0" && echo opened`, emu.appDevice], { encoding: 'utf8' });
  const outsider = as('--clear-groups', '<');
  assert.notEqual(outsider.status, 0);
  assert.match(outsider.stderr, /Permission denied/);
  const wheelWrite = as('--groups=0', '<>');
  assert.notEqual(wheelWrite.status, 0);
  assert.match(wheelWrite.stderr, /Permission denied/);
  const wheelRead = as('--groups=0', '<');
  assert.equal(wheelRead.status, 0, wheelRead.stderr);
  assert.equal(wheelRead.stdout.trim(), 'opened');
  await emu.host.waitForEvent((e) => e.kind === 'open' && e.side === 'app');
});

test('an unknown ioctl returns 0 and a zeroed _IOR buffer, as the driver has no default case', async () => {
  const emu = await emulator('success');
  const fd = libc.open(emu.appDevice, libc.facts.O_RDWR | libc.facts.O_CLOEXEC);
  defer(() => libc.close(fd));
  const buf = Buffer.alloc(64, 0xff);
  assert.equal(libc.ioctl(fd, ioctlRequest('linux', 'read', 'v', 9, 64), buf), 0);
  assert.deepEqual(buf, Buffer.alloc(64));
  assert.equal(libc.ioctl(fd, ioctlRequest('linux', 'write', 'v', 9, 64), Buffer.alloc(64, 1)), 0);
});

test('driver detach: SIGKILL to the last openers, no reply to the host, the device files are gone', async () => {
  // The agent holds its FREEZE answer until the kernel's limit (-f 1), so the detach surely
  // comes while the request is in flight, not after a quick answer went through.
  const emu = await emulator('success', { timeoutMs: 5_000, hostWaitMs: 500 });
  const agent = await simulate(emu, ['--kernel-timeout', '5', '-f', '1']);
  const pending = emu.host.request('freeze');
  await agent.waitForLine(/received freeze/);
  const detach = await emu.host.detach();
  assert.deepEqual(detach.killed.map((k) => k.side).sort(), ['app', 'fs']);
  assert.equal(detach.killed.find((k) => k.side === 'app')?.pid, agent.child.pid);
  const exit = await within(agent.exited, 10_000, 'the agent to die');
  assert.equal(exit.signal, 'SIGKILL');
  assert.equal(existsSync(emu.appDevice), false);
  assert.equal(existsSync(emu.fsDevice), false);
  const result = await pending;
  assert.equal(result.result, 'unanswered');
  assert.equal(result.reason, 'detached');
});

test('the emulator refuses a Node older than 24.2 in one line, exit 2; --help; host-cli explains a missing emulator in one line', async (t) => {
  assert.match(nodeVersionProblem('20.20.2') ?? '', /Node.js 24.2 or later is needed, this is 20.20.2/);
  assert.ok(nodeVersionProblem('24.1.9'));
  assert.equal(nodeVersionProblem('24.2.0'), undefined);
  assert.equal(nodeVersionProblem('25.0.0'), undefined);
  const main = fileURLToPath(new URL('../../src/emulator/main.ts', import.meta.url));
  const help = spawnSync(process.execPath, [main, '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: main.js --dir DIR/);
  const bad = spawnSync(process.execPath, [main, '--bogus'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  const cli = fileURLToPath(new URL('../../src/emulator/host-cli.ts', import.meta.url));
  const none = spawnSync(process.execPath, [cli, '--dir', '/nonexistent/hvvss-emu', 'check'], { encoding: 'utf8' });
  assert.equal(none.status, 1);
  assert.match(none.stderr, /^host-cli: no emulator is running in \/nonexistent\/hvvss-emu .*ENOENT.*start one/);
  assert.equal(none.stderr.trim().split('\n').length, 1, none.stderr);
  // The built entry point on the system's older Node, when there is one (the source needs type stripping).
  const dist = fileURLToPath(new URL('../../dist/emulator/main.js', import.meta.url));
  const oldNode = spawnSync('/usr/bin/node', ['-p', 'process.versions.node'], { encoding: 'utf8' });
  if (oldNode.status !== 0 || !nodeVersionProblem(oldNode.stdout.trim()) || !existsSync(dist)) {
    return t.diagnostic('no older /usr/bin/node or no dist/: the refusal on a real old Node was not run');
  }
  const old = spawnSync('/usr/bin/node', [dist, '--dir', '/nonexistent/hvvss-emu'], { encoding: 'utf8' });
  assert.equal(old.status, 2);
  assert.match(old.stderr, /^emulator: Node.js 24.2 or later is needed, this is /);
  assert.equal(old.stderr.trim().split('\n').length, 1, old.stderr);
});

test('after an fs-stage failure of a FREEZE the kernel never thaws the app: the daemon watchdog does', async () => {
  const emu = await emulator('fail');
  const fx = hooksForTest(defer, { '10-db': RECORD });
  const daemon = await startDaemon(emu, fx, LIMITS_1S);
  const result = await emu.host.request('freeze');
  assert.equal(result.reason, 'fs-failed');
  await daemon.waitForLine(/thaw \(watchdog, msgid \d+\): success/);
  assert.deepEqual(fx.log(), ['10-db freeze host', '10-db thaw watchdog']);
});
