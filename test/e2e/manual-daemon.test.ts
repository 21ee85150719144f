// The daemon and the operator commands together, as separate processes against the emulated
// kernel: they never overlap (each refuses while the other holds a freeze, naming the holder),
// a starting daemon leaves a live manual freeze alone, and hvvss status follows a host backup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { emulatorPerFile } from '../support/emulator.ts';
import { flat, hvvssRun, type WatchedProcess } from '../support/process.ts';
import { hooksForTest, RECORD, type HooksFixture } from '../support/hooks-dir.ts';
import { waitForFile } from '../support/watch-file.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { KERNEL_TIMEOUT_S, runPaths, spawnDaemon } from '../support/daemon-fixture.ts';

const LIMITS = ['--timeout', '2', '--hook-timeout', '0.5', '--kill-grace', '0.2'];

const defer = cleanupsPerTest();
const emu = emulatorPerFile({ timeoutMs: KERNEL_TIMEOUT_S * 1000 });

function fixture(hooks: Record<string, string>): HooksFixture {
  const fx = hooksForTest(defer, hooks);
  defer(async () => {
    if (journal(fx).frozen) await hvvssRun(['thaw', ...manualArgs(fx)]);
  });
  return fx;
}

const state = (fx: HooksFixture) => join(fx.root, 'state');
const manualArgs = (fx: HooksFixture, ...extra: string[]) => ['--hooks-dir', fx.dir, '--state-dir', state(fx), ...LIMITS, ...extra];
const statusArgs = (fx: HooksFixture, ...extra: string[]) => ['status', ...runPaths(fx.root, state(fx)), '--hooks-dir', fx.dir, ...extra];

function journal(fx: HooksFixture): { frozen: boolean } {
  const path = join(state(fx), 'frozen.json');
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : { frozen: false };
}

function startDaemon(fx: HooksFixture): Promise<WatchedProcess> {
  return spawnDaemon(defer, { device: emu.appDevice, hooksDir: fx.dir, root: fx.root, stateDir: state(fx), defaults: { '--kernel-timeout': String(KERNEL_TIMEOUT_S) }, flags: LIMITS });
}

async function manualFreeze(fx: HooksFixture): Promise<number> {
  const freeze = await hvvssRun(['freeze', ...manualArgs(fx, '--max-frozen', '30', '--json')]);
  assert.equal(freeze.code, 0, freeze.output);
  return JSON.parse(freeze.stdout).frozen.pid;
}

const RESIDENT = `${RECORD}
if [ "$1" = freeze ]; then echo READY >&"$HVVSS_NOTIFY_FD"; cat >/dev/null; echo "$HVVSS_HOOK released" >> "@LOG@"; fi`;

test('status before, during and after a host freeze, as text and as JSON', async () => {
  const fx = fixture({ '10-db': RECORD, '20-fs': RECORD });
  const down = await hvvssRun(statusArgs(fx));
  assert.equal(down.code, 1, down.output);
  assert.match(down.stdout, /^hvvss status: DAEMON NOT RUNNING$/m);
  assert.match(down.stdout, /^problem: +the daemon is not running \(nothing listens on .*\): start it \("service hvvss start"\)$/m);

  const daemon = await startDaemon(fx);
  const pid = daemon.child.pid;
  const idle = await hvvssRun(statusArgs(fx));
  assert.equal(idle.code, 0, idle.output);
  assert.match(idle.stdout, /^hvvss status: OK$/m);
  assert.match(idle.stdout, new RegExp(`^daemon +running, pid ${pid}, up .*, registered on ${emu.appDevice}$`, 'm'));
  assert.match(idle.stdout, /^state +idle$/m);
  assert.match(idle.stdout, /^freeze +none$/m);
  assert.match(idle.stdout, /^ +10-db +runnable$/m);

  assert.equal((await emu.host.request('freeze')).result, 'success');
  const frozenText = await hvvssRun(statusArgs(fx));
  assert.equal(frozenText.code, 0, frozenText.output);
  assert.match(frozenText.stdout, /^state +frozen since \S+ \(.* ago\), msgid \d+; watchdog thaw at \S+$/m);
  assert.match(frozenText.stdout, new RegExp(`^freeze +host backup held by the daemon \\(pid ${pid}\\), since \\S+ \\(.* ago\\); thaws by \\S+$`, 'm'));
  const frozen = JSON.parse((await hvvssRun(statusArgs(fx, '--json'))).stdout);
  assert.equal(frozen.health, 'healthy');
  assert.equal(frozen.daemon.snapshot.phase, 'frozen');
  assert.deepEqual(frozen.daemon.snapshot.frozen.hooks, ['10-db', '20-fs']);
  assert.deepEqual(frozen.freeze.holder, { kind: 'daemon', pid, alive: true });

  assert.equal((await emu.host.request('thaw')).result, 'success');
  const afterText = await hvvssRun(statusArgs(fx));
  assert.equal(afterText.code, 0);
  assert.match(afterText.stdout, /^state +idle$/m);
  assert.match(afterText.stdout, /^ +\S+ +thaw +msgid \d+ +success host +\d+ ms, answered success in \d+ ms \[20-fs \d+ ms, 10-db \d+ ms\]$/m);
  assert.match(afterText.stdout, /^ +\S+ +freeze msgid \d+ +success host +\d+ ms, answered success in \d+ ms \[10-db \d+ ms, 20-fs \d+ ms\]$/m);
  const done = JSON.parse((await hvvssRun(statusArgs(fx, '--json'))).stdout);
  assert.equal(done.freeze, undefined);
  assert.equal(done.lastThaw.reason, 'host');
  assert.deepEqual(done.transactions.slice(0, 2).map((t: { op: string; result: string; reason: string }) => [t.op, t.result, t.reason]), [['thaw', 'success', 'host'], ['freeze', 'success', 'host']]);
  assert.ok(done.transactions[1].hooks.every((h: { durationMs: number }) => typeof h.durationMs === 'number'));
  const metrics = await hvvssRun(statusArgs(fx, '--prometheus'));
  assert.match(metrics.stdout, /^hvvss_up 1$/m);
  assert.match(metrics.stdout, /^hvvss_transactions_total\{op="freeze",reason="host",result="success"\} 1$/m);
  assert.match(metrics.stdout, /^hvvss_late_answers_total 0$/m);
  assert.match(metrics.stdout, /^hvvss_last_hook_seconds\{hook="10-db",op="freeze",ok="true"\} [\d.e-]+$/m);
});

test('during a manual freeze the daemon answers CHECK and FREEZE with failure, naming the holder; after hvvss thaw the host backs up', async () => {
  const fx = fixture({ '10-a': RECORD, '20-held': RESIDENT });
  const daemon = await startDaemon(fx);
  const keeper = await manualFreeze(fx);
  for (const op of ['check', 'freeze'] as const) {
    const result = await emu.host.request(op);
    assert.equal(result.result, 'fail', op);
    assert.equal(result.reason, 'app-failed', op);
    await daemon.waitForLine(new RegExp(`${op.toUpperCase()} \\(msgid ${result.msgid}\\) refused: a manual freeze \\(hvvss freeze, kept by pid ${keeper}\\) holds the hooks since .*; answering failure`));
  }
  const status = await hvvssRun(statusArgs(fx));
  assert.equal(status.code, 0, status.output);
  assert.match(status.stdout, new RegExp(`^freeze +manual, hvvss freeze kept by pid ${keeper}, since .*; thaws by \\S+$`, 'm'));
  assert.match(status.stdout, /frozen hooks, in freeze order: 10-a, 20-held \(resident pid \d+, alive\)/);
  assert.match(status.stdout, /^ +\S+ +freeze msgid \d+ +fail +host .*refused: a manual freeze/m);
  assert.deepEqual(fx.log(), ['10-a freeze manual', '20-held freeze manual'], 'no host hook ran');

  assert.equal((await hvvssRun(['thaw', ...manualArgs(fx)])).code, 0);
  assert.equal((await emu.host.request('freeze')).result, 'success');
  assert.equal((await emu.host.request('thaw')).result, 'success');
  assert.deepEqual(fx.log().slice(2), [
    '20-held released', '20-held thaw manual', '10-a thaw manual',
    '10-a freeze host', '20-held freeze host', '20-held released', '20-held thaw host', '10-a thaw host',
  ]);
});

test('during a host freeze, hvvss check, freeze and thaw refuse with exit 3, naming the daemon', async () => {
  const fx = fixture({ '10-a': RECORD });
  const daemon = await startDaemon(fx);
  assert.equal((await emu.host.request('freeze')).result, 'success');
  for (const op of ['check', 'freeze', 'thaw']) {
    const refused = await hvvssRun([op, ...manualArgs(fx)]);
    assert.equal(refused.code, 3, `${op}: ${refused.output}`);
    assert.match(
      flat(refused.stderr),
      new RegExp(`${op} refused: the hvvss daemon \\(pid ${daemon.child.pid}\\) holds a host freeze since \\S+, thawing by \\S+ at the latest: wait for the host's THAW`),
    );
  }
  assert.equal((await emu.host.request('thaw')).result, 'success');
  assert.deepEqual(fx.log(), ['10-a freeze host', '10-a thaw host']);
});

test("a starting daemon leaves a live manual freeze to its keeper; once the keeper is gone, status says so and the daemon thaws it", async () => {
  const fx = fixture({ '10-a': RECORD, '20-held': RESIDENT });
  const keeper = await manualFreeze(fx);
  const daemon = await startDaemon(fx);
  assert.match(daemon.output, new RegExp(`records a freeze since \\S+ by manual pid ${keeper}, and its holder is alive .*: leaving it to that holder`));
  assert.deepEqual(fx.log(), ['10-a freeze manual', '20-held freeze manual']);

  process.kill(keeper, 'SIGKILL');
  await waitForFile(fx.logFile, (lines) => lines.includes('20-held released'));
  const status = await hvvssRun(statusArgs(fx, '--json'));
  assert.equal(status.code, 2, status.output);
  const report = JSON.parse(status.stdout);
  assert.equal(report.health, 'frozenTooLong');
  assert.equal(report.freeze.abandoned, true);
  assert.match(report.problems[0], new RegExp(`2 hooks recorded as frozen since \\S+ by manual pid ${keeper}, which is gone.*: run "hvvss thaw" \\(the daemon also thaws it before its next host request\\)`));

  // The next host request thaws the abandoned freeze first.
  assert.equal((await emu.host.request('check')).result, 'success');
  assert.deepEqual(fx.log().slice(3), ['20-held thaw recovery', '10-a thaw recovery', '10-a check host', '20-held check host']);
  assert.equal(journal(fx).frozen, false);
  assert.equal((await hvvssRun(statusArgs(fx))).code, 0);
});
