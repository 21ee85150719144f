// Root runs nothing a local user could have planted (issue 9): hvvss daemon against the
// emulated kernel refuses a state or run directory others can write, and answers a host CHECK
// with failure when the hooks directory sits below a directory a user owns. Each refusal ends
// with the command that fixes it, and the test runs that command to show it does.
// The unprivileged owner is nobody (uid 65534), set with chown: no user is created.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { emulatorPerFile } from '../support/emulator.ts';
import { flat, hvvssRun, type WatchedProcess } from '../support/process.ts';
import { hooksForTest, RECORD, type HooksFixture } from '../support/hooks-dir.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { daemonCommandLine, type DaemonStart, KERNEL_TIMEOUT_S, SHORT_LIMITS, spawnDaemon } from '../support/daemon-fixture.ts';

const LIMITS = { ...SHORT_LIMITS, '--hook-timeout': '0.5' };
const NOBODY = 65534;

const defer = cleanupsPerTest();
const emu = emulatorPerFile({ timeoutMs: KERNEL_TIMEOUT_S * 1000 });
const fixture = (hooks: Record<string, string> = {}): HooksFixture => hooksForTest(defer, hooks);

function daemonOf(fx: HooksFixture, hooksDir = fx.dir): DaemonStart {
  return { device: emu.appDevice, hooksDir, root: fx.root, defaults: LIMITS };
}

const daemonArgs = (fx: HooksFixture, hooksDir = fx.dir): string[] => daemonCommandLine(daemonOf(fx, hooksDir));
const startDaemon = (fx: HooksFixture, hooksDir = fx.dir): Promise<WatchedProcess> => spawnDaemon(defer, daemonOf(fx, hooksDir));

/** Runs the command a refusal ends with ("...; fix: COMMAND"), as the admin would paste it. */
function runFix(text: string): string {
  const fix = /; fix: (.+?)$/m.exec(text)?.[1];
  assert.ok(fix, `no "fix:" command in:\n${text}`);
  execFileSync('sh', ['-c', fix]);
  return fix;
}

/** A directory with the given mode (exact, whatever the umask). */
function dirWithMode(path: string, mode: number): string {
  mkdirSync(path);
  chmodSync(path, mode);
  return path;
}

test('a world-writable state directory: the daemon refuses to start and says the fix; with it applied, it starts', async () => {
  const fx = fixture({ '10-a': RECORD });
  const state = dirWithMode(join(fx.root, 'state'), 0o777);
  const refused = await hvvssRun(daemonArgs(fx));
  assert.equal(refused.code, 1, refused.output);
  const message = flat(refused.output);
  assert.match(message, new RegExp(`the state directory ${state} is world-writable \\(mode 0777\\): anyone who can write it could plant files root acts on; fix: chmod go-w ${state}`));
  assert.doesNotMatch(message, /registered on /);
  assert.equal(existsSync(join(state, 'hooks.lock')), false, 'nothing is created in a refused state directory');

  assert.equal(runFix(refused.stderr.split('\n').find((l) => l.includes('; fix: ')) ?? ''), `chmod go-w ${state}`);
  await startDaemon(fx);
  assert.equal((await emu.host.request('check')).result, 'success');
  assert.deepEqual(fx.log(), ['10-a check host']);
});

test('a world-writable run directory (pidfile, status socket) is refused too', async () => {
  const fx = fixture({ '10-a': RECORD });
  const run = dirWithMode(join(fx.root, 'run'), 0o777);
  const refused = await hvvssRun(daemonArgs(fx));
  assert.equal(refused.code, 1, refused.output);
  assert.match(flat(refused.output), new RegExp(`the pidfile directory ${run} is world-writable \\(mode 0777\\).*; fix: chmod go-w ${run}`));
  assert.equal(existsSync(join(run, 'hvvss.pid')), false);
});

test('hooks below a user-owned directory: host CHECK fails, the log names that directory and the fix; after the fix CHECK succeeds', async () => {
  const fx = fixture();
  const theirs = dirWithMode(join(fx.root, 'srv'), 0o755);
  chownSync(theirs, NOBODY, NOBODY);
  const hooksDir = dirWithMode(join(theirs, 'hooks.d'), 0o755);
  const hook = join(hooksDir, '10-a');
  writeFileSync(hook, `#!/bin/sh\n${RECORD.replaceAll('@LOG@', fx.logFile)}\n`);
  chmodSync(hook, 0o755);

  const daemon = await startDaemon(fx, hooksDir);
  const check = await emu.host.request('check');
  assert.equal(check.result, 'fail');
  assert.equal(check.reason, 'app-failed', 'answered by the daemon, not timed out');
  const line = await daemon.waitForLine(/hooks directory .* is reached through/);
  assert.match(
    line,
    new RegExp(`hooks directory ${hooksDir} is reached through ${theirs}, which is owned by uid 65534, not root, mode 0755: whoever can change it can replace the hooks; fix: chown root ${theirs}$`),
  );
  assert.deepEqual(fx.log(), [], 'no hook may run');

  // hvvss check by hand says the same.
  const manual = await hvvssRun(['check', '--hooks-dir', hooksDir, '--state-dir', join(fx.root, 'manual-state')]);
  assert.equal(manual.code, 1, manual.output);
  assert.match(flat(manual.output), new RegExp(`reached through ${theirs}, which is owned by uid 65534`));

  assert.equal(runFix(line), `chown root ${theirs}`);
  assert.equal((await emu.host.request('check')).result, 'success');
  assert.deepEqual(fx.log(), ['10-a check host']);
});
