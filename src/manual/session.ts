// The hooks engine as the operator commands use it: the same engine, contract, ordering,
// timeouts, rollback and resident hooks as the daemon (HVVSS_REASON=manual), the same freeze
// journal and the same hooks lock, and every step reported as events for a display.
//
// A ManualSession runs in whichever process holds the freeze: the command-line process for
// check, thaw and freeze -- CMD, the keeper for a plain freeze (see keeper.ts).
import { FreezeJournal } from '../daemon/freeze-journal.ts';
import { createHookEngine, type HookEngine, type HookObserver } from '../daemon/hook-engine.ts';
import { adviceFor, describeHolder, HooksLock, type LockHolder } from '../daemon/hooks-lock.ts';
import { hooksLockIn, journalIn } from '../daemon/paths.ts';
import { hookBudget, scanProblems, type FrozenHook, type HookOp, type HookReason, type HookRef, type SequenceResult } from '../hooks/index.ts';
import type { Logger } from '../log/logger.ts';
import { systemClock, type Clock } from '../util/clock.ts';
import { plural, type EmitFn, type StepReport } from './report.ts';

export interface ManualSettings {
  readonly hooksDir: string;
  readonly stateDir: string;
  /** Limit of a whole check or freeze sequence, like a host request's (--timeout). */
  readonly timeoutMs: number;
  readonly hookTimeoutMs: number;
  readonly killGraceMs: number;
  /** A freeze thaws by itself this long after it succeeded (--max-frozen). */
  readonly maxFrozenMs: number;
}

/** Owners accepted for hooks: root and whoever runs hvvss (as for the daemon). */
export const trustedUids = (): number[] => [...new Set([0, process.getuid?.() ?? 0])];

/** `busy`: someone else holds the hooks (try later); otherwise the lock could not be used at all. */
export type Claimed = { readonly ok: true } | { readonly ok: false; readonly busy: boolean; readonly message: string; readonly holder?: LockHolder };

export interface FreezeOutcome {
  readonly ok: boolean;
  readonly steps: StepReport[];
  /** Set when the hooks are frozen (and recorded in the journal): give them to thaw(). */
  readonly frozen?: { readonly hooks: FrozenHook[]; readonly since: Date };
  /** Why nothing ran at all. */
  readonly problem?: string;
}

export const silentLogger: Logger = {
  log() {},
  error() {},
  warn() {},
  notice() {},
  info() {},
  debug() {},
};

export class ManualSession {
  readonly settings: ManualSettings;
  readonly lock: HooksLock;
  readonly journal: FreezeJournal;
  readonly engine: HookEngine;
  readonly #emit: EmitFn;
  readonly #clock: Clock;

  constructor(settings: ManualSettings, deps: { emit: EmitFn; log?: Logger; clock?: Clock }) {
    this.settings = settings;
    this.#emit = deps.emit;
    this.#clock = deps.clock ?? systemClock;
    this.lock = new HooksLock(hooksLockIn(settings.stateDir), 'manual');
    this.journal = new FreezeJournal(journalIn(settings.stateDir));
    this.engine = createHookEngine({
      dir: settings.hooksDir,
      trustedUids: trustedUids(),
      hookTimeoutMs: settings.hookTimeoutMs,
      killGraceMs: settings.killGraceMs,
      clock: this.#clock,
      log: deps.log ?? silentLogger,
    });
  }

  /** Takes the hooks lock; when someone else has them, says who and what to do. */
  claim(what: Omit<LockHolder, 'pid' | 'kind' | 'since'>): Claimed {
    try {
      const claim = this.lock.tryAcquire(what);
      if (claim.ok) return claim;
      const message = `${describeHolder(claim.holder, this.lock.path)}: ${adviceFor(claim.holder)}`;
      return claim.holder ? { ok: false, busy: true, message, holder: claim.holder } : { ok: false, busy: true, message };
    } catch (err) {
      return {
        ok: false,
        busy: false,
        message: `cannot take the hooks lock ${this.lock.path} (${(err as Error).message}): run as root, with --state-dir set to the daemon's state directory`,
      };
    }
  }

  async check(signal?: AbortSignal): Promise<StepReport> {
    const deadline = this.#clock.now() + this.settings.timeoutMs;
    const scan = await this.engine.scan();
    this.#startSequence('check', scanProblems(scan).length > 0 ? [] : scan.runnable);
    const result = await this.engine.check(scan, { reason: 'manual', deadline, observer: this.#observer(deadline), ...(signal ? { signal } : {}) });
    return this.#endSequence('check', 'manual', result);
  }

  /**
   * Freezes every runnable hook in name order; on a failure rolls back what was started (in
   * reverse). On success the freeze is recorded in the journal with this process as the
   * holder. The lock must be held. Aborting `signal` stops the freeze and rolls back.
   */
  async freeze(signal?: AbortSignal): Promise<FreezeOutcome> {
    let record;
    try {
      record = await this.journal.read();
    } catch (err) {
      return { ok: false, steps: [], problem: (err as Error).message };
    }
    if (record) {
      // We hold the lock, so whoever recorded this freeze is gone without thawing.
      return {
        ok: false,
        steps: [],
        problem:
          `the freeze journal ${this.journal.path} records ${plural(record.hooks.length, 'hook')} frozen since ${record.since} ` +
          `by ${record.holder.kind} pid ${record.holder.pid}, which is gone: run "hvvss thaw" to thaw them first`,
      };
    }
    const deadline = this.#clock.now() + this.settings.timeoutMs;
    const scan = await this.engine.scan();
    this.#startSequence('freeze', scanProblems(scan).length > 0 ? [] : scan.runnable);
    const result = await this.engine.freeze(scan, {
      reason: 'manual',
      deadline,
      observer: this.#observer(deadline),
      ...(signal ? { signal } : {}),
      onBrokenFreeze: (event) =>
        this.#emit({
          type: 'note',
          level: 'error',
          text: `resident freeze process of ${event.hook} (pid ${event.pid}) ended while frozen (${event.signal ?? `exit ${event.exitCode}`}): broken freeze; its thaw will report failure`,
        }),
    });
    const step = this.#endSequence('freeze', 'manual', result);
    if (!result.ok) {
      const rollback = await this.thaw(result.frozen, 'rollback');
      return { ok: false, steps: [step, rollback] };
    }
    const since = this.#clock.wallNow();
    try {
      await this.journal.recordFrozen({
        since: since.toISOString(),
        reason: 'manual',
        msgid: '',
        holder: { pid: process.pid, kind: 'manual' },
        hooksDir: scan.dir,
        hooks: result.frozen.map((f) => f.hook),
      });
    } catch (err) {
      const problem = `cannot record the freeze in ${this.journal.path} (${(err as Error).message}), so it could not be thawed after a crash: rolled back`;
      this.#emit({ type: 'note', level: 'error', text: problem });
      const rollback = await this.thaw(result.frozen, 'rollback');
      return { ok: false, steps: [{ ...step, ok: false, problems: [...step.problems, problem] }, rollback] };
    }
    return { ok: true, steps: [step], frozen: { hooks: result.frozen, since } };
  }

  /**
   * Thaws `frozen` in reverse order (every hook, even after a failure), then records in the
   * journal that nothing is frozen. With `timeoutMs`, the sequence has that limit like a host
   * THAW; without, each hook gets --hook-timeout (as the daemon's own thaws). A thaw is never
   * skipped for lack of time either way.
   */
  async thaw(frozen: readonly FrozenHook[], reason: HookReason, timeoutMs?: number): Promise<StepReport> {
    const deadline = timeoutMs === undefined ? undefined : this.#clock.now() + timeoutMs;
    this.#emit({ type: 'sequence', op: 'thaw', reason, hooks: [...frozen].reverse().map((f) => f.hook.name), ...(timeoutMs === undefined ? {} : { timeoutMs }) });
    const result = await this.engine.thaw(frozen, { reason, observer: this.#observer(deadline), ...(deadline === undefined ? {} : { deadline }) });
    let problem: string | undefined;
    try {
      await this.journal.clear({ at: this.#clock.wallNow().toISOString(), reason, ok: result.ok });
    } catch (err) {
      problem = `cannot clear the freeze journal ${this.journal.path} (${(err as Error).message}): the hooks are thawed, but the record stays; fix the directory and run "hvvss thaw" again (thaw hooks are idempotent)`;
    }
    return this.#endSequence('thaw', reason, problem === undefined ? result : { ...result, ok: false, problems: [...result.problems, problem] });
  }

  #startSequence(op: 'check' | 'freeze', hooks: readonly HookRef[]): void {
    this.#emit({ type: 'sequence', op, reason: 'manual', hooks: hooks.map((h) => h.name), timeoutMs: this.settings.timeoutMs });
  }

  #endSequence(op: HookOp, reason: HookReason, result: SequenceResult): StepReport {
    const step: StepReport = { op, reason, ok: result.ok, hooks: result.results, problems: result.problems };
    this.#emit({ type: 'sequence-end', step });
    return step;
  }

  #observer(deadline: number | undefined): HookObserver {
    const { hookTimeoutMs, killGraceMs } = this.settings;
    return {
      onHookStart: (hook, op) => {
        const budget = hookBudget({ op, reason: 'manual', hookTimeoutMs, killGraceMs, ...(deadline === undefined ? {} : { deadline }) }, this.#clock.now());
        const at = Date.now();
        this.#emit({ type: 'hook-start', op, hook: hook.name, at, endsAt: at + Math.max(0, budget.budgetMs) });
      },
      onLog: (line) => this.#emit({ type: 'output', op: line.op, hook: line.hook, stream: line.stream, line: line.line }),
      onHookEnd: (result) => this.#emit({ type: 'hook-end', result }),
    };
  }
}
