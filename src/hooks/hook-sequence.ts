// Sequences of hooks: check and freeze in name order, thaw in reverse (a stack), with the rules of the contract:
// refused hooks or a bad directory run nothing, a failed freeze stops and reports what must be rolled back,
// thaw runs every frozen hook even if one fails and releases every resident process.
import { systemClock } from '../util/clock.ts';
import { HOOK_DEFAULTS, runHook } from './hook-runner.ts';
import type { ResidentHook } from './hook-runner.ts';
import type { FreezeOptions, HookOp, HookRef, HookResult, ScanResult, SequenceOptions } from './types.ts';

/** A hook whose freeze was started: what thawAll needs. Not plain data when `resident` is set. */
export interface FrozenHook {
  hook: HookRef;
  /** The live freeze process of a hook that signalled READY. */
  resident?: ResidentHook;
}

export interface SequenceResult {
  ok: boolean;
  results: HookResult[];
  /** Reasons the sequence failed outside of hook results: directory problem, refused hooks, broken freezes. */
  problems: string[];
}

export interface FreezeResult extends SequenceResult {
  /** In start order, every hook whose freeze was started (the failing one included): hand it to thawAll. */
  frozen: FrozenHook[];
}

/** Observers are display code: one that throws must not break a freeze or skip a thaw. */
function notifyStart(options: SequenceOptions, hook: HookRef, op: HookOp): void {
  try {
    options.onHookStart?.({ name: hook.name, path: hook.path }, op);
  } catch {
    // ignored, see above
  }
}

function notifyEnd(options: SequenceOptions, result: HookResult): void {
  try {
    options.onHookEnd?.(result);
  } catch {
    // ignored, see above
  }
}

/** Why a scan forbids running anything: a directory problem or refused hooks. Empty when fine. */
export function scanProblems(scan: ScanResult): string[] {
  const problems: string[] = [];
  if (scan.problem) problems.push(scan.problem.message);
  for (const entry of scan.entries) {
    if (entry.verdict === 'refused') problems.push(`hook ${entry.name} refused: ${entry.why ?? 'insecure'}`);
  }
  return problems;
}

/** Runs every runnable hook's `check`, in name order, all of them even after a failure. */
export async function checkAll(scan: ScanResult, options: SequenceOptions): Promise<SequenceResult> {
  const problems = scanProblems(scan);
  if (problems.length > 0) return { ok: false, results: [], problems };
  const results: HookResult[] = [];
  for (const hook of scan.runnable) {
    notifyStart(options, hook, 'check');
    const { result } = await runHook(hook, { ...options, op: 'check' });
    notifyEnd(options, result);
    results.push(result);
  }
  return { ok: results.every((r) => r.ok), results, problems };
}

/**
 * Runs `freeze` in name order and stops at the first failure (non-zero exit, signal, timeout, abort).
 * Whatever the outcome, `frozen` must be given to `thawAll` eventually: with `reason: 'rollback'` after a failure.
 * A resident hook that dies before freezeAll returns makes it fail too (the snapshot would not be consistent).
 */
export async function freezeAll(scan: ScanResult, options: FreezeOptions): Promise<FreezeResult> {
  const problems = scanProblems(scan);
  if (problems.length > 0) return { ok: false, results: [], problems, frozen: [] };
  const results: HookResult[] = [];
  const frozen: FrozenHook[] = [];
  let ok = true;
  for (const hook of scan.runnable) {
    notifyStart(options, hook, 'freeze');
    const outcome = await runHook(hook, { ...options, op: 'freeze' });
    notifyEnd(options, outcome.result);
    results.push(outcome.result);
    if (outcome.started) {
      const ref: HookRef = { name: hook.name, path: hook.path };
      frozen.push(outcome.resident ? { hook: ref, resident: outcome.resident } : { hook: ref });
    }
    if (!outcome.result.ok) {
      ok = false;
      break;
    }
  }
  for (const f of frozen) {
    const broken = f.resident?.brokenFreeze;
    if (broken) {
      ok = false;
      problems.push(`resident freeze process of ${f.hook.name} died before the freeze completed`);
    }
  }
  return { ok, results, problems, frozen };
}

/**
 * Runs `thaw` for every hook of `frozen`, in reverse order, even if one fails. For a resident hook, its freeze
 * process is first released (stdin EOF, bounded wait, then SIGTERM/SIGKILL of its group), then `HOOK thaw` runs.
 * No resident process outlives thawAll. The abort signal is ignored: thaw always runs.
 *
 * Thaw hooks MUST be idempotent: they run after a successful freeze, after a failed or partial freeze (rollback,
 * including for the hook whose freeze failed), at startup after a crash (recovery), and possibly twice.
 */
export async function thawAll(frozen: readonly FrozenHook[], options: SequenceOptions): Promise<SequenceResult> {
  const clock = options.clock ?? systemClock;
  const killGraceMs = options.killGraceMs ?? HOOK_DEFAULTS.killGraceMs;
  const releaseTimeoutMs = options.releaseTimeoutMs ?? HOOK_DEFAULTS.releaseTimeoutMs;
  const results: HookResult[] = [];
  const problems: string[] = [];
  for (const f of [...frozen].reverse()) {
    notifyStart(options, f.hook, 'thaw');
    let release: HookResult['release'];
    let brokenNote: string | undefined;
    if (f.resident) {
      const remaining = options.deadline === undefined ? Infinity : options.deadline - clock.now() - killGraceMs;
      const outcome = await f.resident.release({ clock, killGraceMs, onLog: options.onLog, timeoutMs: Math.max(0, Math.min(releaseTimeoutMs, remaining)) });
      release = outcome.how;
      const broken = f.resident.brokenFreeze;
      if (broken) {
        const how = broken.signal !== null ? `killed by ${broken.signal}` : `exited with code ${broken.exitCode}`;
        brokenNote = `broken freeze: resident freeze process ${broken.pid} ${how} at ${broken.at}, before thaw`;
      }
    }
    const { result } = await runHook(f.hook, { ...options, op: 'thaw', signal: undefined });
    if (f.resident) {
      result.resident = true;
      if (release !== undefined) result.release = release;
      if (release === 'killed') result.note = 'resident freeze process did not let go on stdin EOF and was killed';
    }
    if (brokenNote !== undefined) {
      result.brokenFreeze = true;
      result.ok = false;
      result.error = result.error === undefined ? brokenNote : `${brokenNote}; thaw ${result.error}`;
    }
    notifyEnd(options, result);
    results.push(result);
  }
  return { ok: results.every((r) => r.ok), results, problems };
}
