// Faults at any instant of a freeze: hvvss daemon against the emulated kernel, with a slow hook
// sequence (three hooks, the last of which fails, then a slow rollback), killed, stopped or
// losing its device at many different instants across it. Whatever the instant, nothing may be
// left frozen: after SIGKILL once the next daemon has started (recovery), after SIGTERM once the
// daemon has exited, after the device went away once the daemon has exited.
//
// The hooks record their freeze when it is complete (at the end of the freeze), as a real hook
// would hold its lock only from then on: a freeze hook left running by a killed daemon that
// completed after the recovery thaw would show up as the last word of that hook.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { emulatorPerFile } from '../support/emulator.ts';
import { startEmulator } from '../../src/emulator/host-client.ts';
import { type WatchedProcess } from '../support/process.ts';
import { hooksForTest, type HooksFixture } from '../support/hooks-dir.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { spawnDaemon } from '../support/daemon-fixture.ts';
import { waitForFile } from '../support/watch-file.ts';

const KERNEL_TIMEOUT_S = 2;
const LIMITS = { '--kernel-timeout': String(KERNEL_TIMEOUT_S), '--timeout': '1.5', '--hook-timeout': '1', '--kill-grace': '0.2' };
/** Each hook's freeze and thaw take this long: the sequence spans about 6 x STEP. */
const STEP_S = 0.1;

const defer = cleanupsPerTest();
const emu = emulatorPerFile({ timeoutMs: KERNEL_TIMEOUT_S * 1000 });

/** 10-a and 20-b freeze and thaw slowly; 30-c freezes slowly, then fails (its thaw is owed too). */
function slowSequence(): HooksFixture {
  const fx = hooksForTest(defer);
  const body = (failFreeze: boolean) =>
    [
      'case "$1" in',
      `  freeze) sleep ${STEP_S}; echo "$HVVSS_HOOK freeze $HVVSS_REASON" >> "@LOG@"; ${failFreeze ? 'exit 1' : 'exit 0'} ;;`,
      `  thaw) sleep ${STEP_S}; echo "$HVVSS_HOOK thaw $HVVSS_REASON" >> "@LOG@" ;;`,
      'esac',
    ].join('\n');
  fx.add('10-a', body(false));
  fx.add('20-b', body(false));
  fx.add('30-c', body(true));
  return fx;
}

function startDaemon(fx: HooksFixture, device = emu.appDevice, extra: string[] = []): Promise<WatchedProcess> {
  return spawnDaemon(defer, { device, hooksDir: fx.dir, root: fx.root, defaults: LIMITS, extra });
}

/** The process table's lines that run a hook of `fx`. */
function hookProcesses(fx: HooksFixture): string[] {
  const ps = execFileSync('ps', ['-ax', '-o', 'args='], { encoding: 'utf8' });
  return ps.split('\n').filter((line) => line.includes(`${fx.dir}/`));
}

/**
 * Resolves once a hook of `fx` runs (`running`), or none does any more. Polls the process table:
 * a process that is not our child (a hook of the daemon) cannot be waited for.
 */
async function hooksRunning(fx: HooksFixture, running: boolean, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const found = hookProcesses(fx);
    if (found.length > 0 === running) return;
    if (Date.now() > until) assert.fail(running ? `no hook started within ${ms} ms` : `hooks still running after ${ms} ms:\n${found.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const noHookRunning = (fx: HooksFixture) => hooksRunning(fx, false);

/** Every hook's last word is a thaw (or it never froze), and the journal records nothing frozen. */
function assertNothingFrozen(fx: HooksFixture, when: string): void {
  const last = new Map<string, string>();
  for (const line of fx.log()) {
    const [hook, op] = line.split(' ');
    if (hook && (op === 'freeze' || op === 'thaw')) last.set(hook, op);
  }
  for (const [hook, op] of last) assert.equal(op, 'thaw', `${when}: ${hook} is left frozen; hooks log:\n${fx.log().join('\n')}`);
  const journal = join(fx.root, 'state', 'frozen.json');
  if (existsSync(journal)) assert.equal(JSON.parse(readFileSync(journal, 'utf8')).frozen, false, `${when}: the journal still records a freeze`);
}

/** The instants, from the FREEZE request on, across the whole freeze and rollback (about 6 steps). */
function instants(everyMs: number): number[] {
  const span = Math.round(7 * STEP_S * 1000);
  return Array.from({ length: Math.floor(span / everyMs) + 1 }, (_, i) => i * everyMs);
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('SIGKILL at any instant of a failing freeze and its rollback: the next start leaves nothing frozen', async () => {
  for (const at of instants(50)) {
    const fx = slowSequence();
    const daemon = await startDaemon(fx);
    const pending = emu.host.request('freeze');
    // The kill instant is the test's input, not a wait for an event.
    await delay(at);
    daemon.child.kill('SIGKILL');
    await daemon.exited;
    // Restarted at once (as rc.d's daemon(8) would): hooks the dead daemon started may still run.
    const next = await startDaemon(fx);
    // The request may reach the new daemon (killed before reading it): let it be answered, then
    // stop the new daemon, which finishes any rollback of its own first.
    await pending;
    next.child.kill('SIGTERM');
    assert.equal((await next.exited).code, 0, next.output);
    await noHookRunning(fx);
    assertNothingFrozen(fx, `SIGKILL ${at} ms after the FREEZE`);
  }
});

test('SIGTERM at any instant of a failing freeze and its rollback: the daemon thaws before it exits', async () => {
  for (const at of instants(100)) {
    const fx = slowSequence();
    const daemon = await startDaemon(fx);
    const pending = emu.host.request('freeze');
    await delay(at);
    daemon.child.kill('SIGTERM');
    const exit = await daemon.exited;
    await pending;
    assert.equal(exit.code, 0, `SIGTERM ${at} ms after the FREEZE: ${daemon.output}`);
    await noHookRunning(fx);
    assertNothingFrozen(fx, `SIGTERM ${at} ms after the FREEZE`);
  }
});

test('SIGHUP and SIGINT in the middle of a freeze: thawed before exit, like SIGTERM', async () => {
  for (const signal of ['SIGHUP', 'SIGINT'] as const) {
    const fx = slowSequence();
    const daemon = await startDaemon(fx);
    const pending = emu.host.request('freeze');
    await waitForFile(fx.logFile, (lines) => lines.includes('10-a freeze host'));
    daemon.child.kill(signal);
    assert.equal((await daemon.exited).code, 0, daemon.output);
    await pending;
    await noHookRunning(fx);
    assertNothingFrozen(fx, signal);
  }
});

test('the device going away at any instant of a freeze: the daemon rolls back and exits, nothing frozen', async () => {
  for (const at of instants(175)) {
    const own = await startEmulator({ timeoutMs: KERNEL_TIMEOUT_S * 1000 });
    const fx = slowSequence();
    const daemon = await startDaemon(fx, own.appDevice);
    const pending = own.host.request('freeze').catch(() => undefined);
    await delay(at);
    await own.stop();
    await pending;
    const exit = await daemon.exited;
    assert.notEqual(exit.code, null, `device gone ${at} ms after the FREEZE: the daemon was killed instead of exiting: ${daemon.output}`);
    await noHookRunning(fx);
    assertNothingFrozen(fx, `device gone ${at} ms after the FREEZE`);
  }
});

test('a freeze hook the killed daemon left running is stopped before recovery thaws', async () => {
  const fx = hooksForTest(defer);
  // Freezes for longer than the test lets the daemon live, and records when done.
  fx.add('10-slow', 'case "$1" in\n  freeze) sleep 2; echo "$HVVSS_HOOK freeze $HVVSS_REASON" >> "@LOG@" ;;\n  thaw) echo "$HVVSS_HOOK thaw $HVVSS_REASON" >> "@LOG@" ;;\nesac');
  const daemon = await startDaemon(fx, emu.appDevice, ['--hook-timeout', '5']);
  const pending = emu.host.request('freeze');
  // The intent is recorded before the hook starts: once it runs, the journal names it.
  await hooksRunning(fx, true);
  daemon.child.kill('SIGKILL');
  await daemon.exited;
  const next = await startDaemon(fx);
  await next.waitForLine(/stopped a freeze hook left running by the previous holder: pid \d+/);
  await pending;
  await noHookRunning(fx);
  assert.deepEqual(fx.log(), ['10-slow thaw recovery']);
});
