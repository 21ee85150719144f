// One hook invocation by the rules of the contract: a time budget from the hook timeout and the
// request's deadline (a thaw always gets a minimum), termination of its process group past it or
// on abort, and for freeze the resident-hook protocol (READY on the notify descriptor).
import { systemClock } from '../util/clock.ts';
import { buildHookEnv } from './hook-env.ts';
import { HOOK_DEFAULTS } from './hook-defaults.ts';
import { HookProcess, LEFTOVER_NOTE, safeLog, type ExitInfo } from './hook-process.ts';
import { ResidentHook } from './resident-hook.ts';
import type { HookRef, HookResult, RunHookOptions } from './types.ts';

export { HOOK_DEFAULTS } from './hook-defaults.ts';
export { LEFTOVER_NOTE } from './hook-process.ts';
export { ResidentHook } from './resident-hook.ts';

function describeFailure(info: ExitInfo, timedOut: boolean, aborted: boolean, budgetMs: number): string | undefined {
  if (info.spawnError !== undefined) return `cannot run: ${info.spawnError}`;
  if (timedOut) return `timed out after ${Math.round(budgetMs)} ms`;
  if (aborted) return 'aborted';
  if (info.signal !== null) return `killed by ${info.signal}`;
  if (info.exitCode !== 0) return `exited with code ${info.exitCode}`;
  return undefined;
}

export interface RunHookOutcome {
  result: HookResult;
  /** False when nothing was spawned (deadline already passed, aborted before start). */
  started: boolean;
  /** Set when a freeze hook signalled READY and keeps running. */
  resident?: ResidentHook;
}

/** The time budget of one invocation, per the deadline rules. Exported for tests and for the status command. */
export function hookBudget(options: RunHookOptions, now: number): { budgetMs: number; deadlineSeconds: number } {
  const hookTimeoutMs = options.hookTimeoutMs ?? HOOK_DEFAULTS.hookTimeoutMs;
  const killGraceMs = options.killGraceMs ?? HOOK_DEFAULTS.killGraceMs;
  const remaining = options.deadline === undefined ? Infinity : options.deadline - now;
  let budgetMs = Math.min(hookTimeoutMs, remaining - killGraceMs);
  if (options.op === 'thaw') {
    // Thaw is never skipped: past the deadline it still gets a short run.
    budgetMs = Math.max(budgetMs, Math.min(hookTimeoutMs, options.minThawMs ?? HOOK_DEFAULTS.minThawMs));
  }
  const deadlineSeconds = Math.max(0, Math.floor((Number.isFinite(remaining) ? remaining : budgetMs) / 1000));
  return { budgetMs, deadlineSeconds };
}

/**
 * Runs `HOOK <op>` once. Never throws for hook failures: they are in the result.
 * For freeze, a hook that writes `READY` to fd 3 succeeds at that moment and is returned as `resident`.
 * The abort signal is honoured by check and freeze only; thaw always runs to completion (within its budget).
 */
export async function runHook(hook: HookRef, options: RunHookOptions): Promise<RunHookOutcome> {
  const clock = options.clock ?? systemClock;
  const killGraceMs = options.killGraceMs ?? HOOK_DEFAULTS.killGraceMs;
  const start = clock.now();
  const startedAt = clock.wallNow().toISOString();
  const { op, reason } = options;
  const base = { hook: hook.name, op, reason, startedAt };
  const { budgetMs, deadlineSeconds } = hookBudget(options, start);
  const signal = op === 'thaw' ? undefined : options.signal;

  if (signal?.aborted) {
    return { started: false, result: { ...base, ok: false, exitCode: null, signal: null, timedOut: false, durationMs: 0, error: 'aborted before start' } };
  }
  if (!(budgetMs > 0)) {
    return { started: false, result: { ...base, ok: false, exitCode: null, signal: null, timedOut: true, durationMs: 0, error: 'no time left before the request deadline' } };
  }

  const env = buildHookEnv({ op, reason, hook: hook.name, msgid: options.msgid, deadlineSeconds });
  const proc = new HookProcess(hook, { op, env, clock, drainMs: options.drainMs ?? HOOK_DEFAULTS.drainMs, onLog: options.onLog, spawner: options.spawner });

  let timedOut = false;
  let aborted = false;
  let becameResident = false;
  const timer = clock.setTimer(budgetMs, () => {
    if (proc.exited || becameResident) return;
    timedOut = true;
    safeLog(options.onLog, hook.name, op, 'runner', `timed out after ${Math.round(budgetMs)} ms: sending SIGTERM to its process group`);
    proc.terminate(killGraceMs);
  });
  const onAbort = (): void => {
    if (proc.exited || becameResident || timedOut) return;
    aborted = true;
    safeLog(options.onLog, hook.name, op, 'runner', 'aborted: sending SIGTERM to its process group');
    proc.terminate(killGraceMs);
  };
  signal?.addEventListener('abort', onAbort, { once: true });

  const first = await Promise.race([proc.done.then((info) => ({ kind: 'done' as const, info })), proc.ready.then(() => ({ kind: 'ready' as const }))]);
  timer.cancel();
  signal?.removeEventListener('abort', onAbort);

  if (first.kind === 'ready' && !timedOut && !aborted && !proc.exited) {
    becameResident = true;
    const resident = new ResidentHook(proc, clock, options.onLog, options.onBrokenFreeze);
    safeLog(options.onLog, hook.name, op, 'runner', `READY: resident freeze process ${resident.pid} holds the freeze until thaw`);
    return {
      started: true,
      result: { ...base, ok: true, exitCode: null, signal: null, timedOut: false, durationMs: Math.round(clock.now() - start), resident: true },
      resident,
    };
  }

  const info = first.kind === 'done' ? first.info : await proc.done;
  const error = describeFailure(info, timedOut, aborted, budgetMs);
  const result: HookResult = {
    ...base,
    ok: error === undefined,
    exitCode: info.exitCode,
    signal: info.signal,
    timedOut,
    durationMs: Math.round(clock.now() - start),
  };
  if (error !== undefined) result.error = error;
  if (proc.leftBackground) result.note = LEFTOVER_NOTE;
  return { started: true, result };
}
