// The hooks engine as the operator commands use it: the same engine, contract, ordering,
// timeouts, rollback and resident hooks as the daemon (HVVSS_REASON=manual), the same freeze
// journal and the same hooks lock, and every step reported as events for a display.
//
// A ManualSession runs in whichever process holds the freeze: the command-line process for
// check, thaw and freeze -- CMD, the keeper for a plain freeze (see keeper.ts).
import { FreezeJournal, type FrozenRecord } from '../state/freeze-journal.ts';
import { createHookEngine, type HookEngine, type HookObserver } from '../engine/hook-engine.ts';
import { FreezeEngine } from '../engine/freeze-engine.ts';
import { adviceFor, describeHolder, HooksLock, type LockHolder } from '../state/hooks-lock.ts';
import { hooksLockIn, journalIn } from '../state/paths.ts';
import { hookBudget, scanProblems, type FrozenHook, type HookOp, type HookReason, type HookRef, type SequenceResult } from '../hooks/index.ts';
import type { HoldingLogger } from '../log/logger.ts';
import type { HookSpawner } from '../hooks/hook-spawn.ts';
import { systemClock, type Clock } from '../util/clock.ts';
import { plural, type EmitFn, type StepReport } from './report.ts';

export interface ManualSettings {
  readonly hooksDir: string;
  readonly stateDir: string;
  /** The daemon's socket: when a daemon answers there, it runs the hooks (see daemon-client.ts). */
  readonly socket: string;
  /** Limit of a whole check or freeze sequence, like a host request's (--timeout). */
  readonly timeoutMs: number;
  readonly hookTimeoutMs: number;
  readonly killGraceMs: number;
  /** A freeze thaws by itself this long after it succeeded (--max-frozen). */
  readonly maxFrozenMs: number;
  /**
   * Starts the hook processes (src/hooks/hook-spawn.ts); posix_spawn (defaultHookSpawner) when
   * absent. Not sent to the keeper (settings go there as JSON), which uses the default: it is
   * resident while frozen.
   */
  readonly spawner?: HookSpawner;
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

export const silentLogger: HoldingLogger = {
  hold() {},
  flush() {},
  log() {},
  error() {},
  warn() {},
  notice() {},
  info() {},
  debug() {},
};

/** What the lock file says while a manual freeze holds the hooks (written before the freeze: nothing is written while frozen). */
export type FrozenHolderText = Omit<LockHolder, 'pid' | 'kind' | 'since' | 'op' | 'thawsBy'>;

export class ManualSession {
  readonly settings: ManualSettings;
  readonly lock: HooksLock;
  readonly journal: FreezeJournal;
  readonly hooks: HookEngine;
  /** The same freeze engine as the daemon's: write-ahead journal, held logs, watchdog, recovery. */
  readonly engine: FreezeEngine;
  readonly #emit: EmitFn;
  readonly #clock: Clock;

  /**
   * Without `engine`, a device-less engine of its own (the keeper, freeze -- CMD, check and thaw
   * when no daemon runs); with it, the daemon's engine (the daemon runs the command).
   */
  constructor(settings: ManualSettings, deps: { emit: EmitFn; log?: HoldingLogger; clock?: Clock; engine?: FreezeEngine }) {
    this.settings = settings;
    this.#emit = deps.emit;
    this.#clock = deps.clock ?? systemClock;
    const log = deps.log ?? silentLogger;
    this.lock = new HooksLock(hooksLockIn(settings.stateDir), 'manual');
    if (deps.engine) {
      this.engine = deps.engine;
      this.hooks = deps.engine.hooks;
      this.journal = deps.engine.journal;
      return;
    }
    this.journal = new FreezeJournal(journalIn(settings.stateDir));
    this.hooks = createHookEngine({
      dir: settings.hooksDir,
      trustedUids: trustedUids(),
      hookTimeoutMs: settings.hookTimeoutMs,
      killGraceMs: settings.killGraceMs,
      clock: this.#clock,
      log,
      ...(settings.spawner ? { spawner: settings.spawner } : {}),
    });
    this.engine = new FreezeEngine({ hooks: this.hooks, journal: this.journal, clock: this.#clock, log, holder: { kind: 'manual', pid: process.pid } });
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
    const scan = await this.hooks.scan();
    this.#startSequence('check', scanProblems(scan).length > 0 ? [] : scan.runnable);
    const result = await this.hooks.check(scan, { reason: 'manual', deadline, observer: this.#observer(deadline), ...(signal ? { signal } : {}) });
    return this.#endSequence('check', 'manual', result);
  }

  /**
   * Freezes every runnable hook in name order; on a failure rolls back what was started (in
   * reverse). The lock must be held; `holder` is what the lock file says while frozen. With
   * `watchdog`, `onWatchdog` is called that long after the freeze began unless thawed before.
   * Aborting `signal` stops the freeze and rolls back.
   */
  async freeze(signal: AbortSignal | undefined, holder: FrozenHolderText, watchdog?: { readonly ms: number; readonly onWatchdog: () => void }): Promise<FreezeOutcome> {
    let record;
    try {
      record = this.journal.read();
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
    const thawsBy = new Date(this.#clock.wallNow().getTime() + (watchdog?.ms ?? this.settings.maxFrozenMs));
    this.lock.describe({ ...holder, op: 'frozen', thawsBy: thawsBy.toISOString() });
    const scan = await this.hooks.scan();
    this.#startSequence('freeze', scanProblems(scan).length > 0 ? [] : scan.runnable);
    const attempt = await this.engine.freeze({
      reason: 'manual',
      deadline,
      observer: this.#observer(deadline),
      ...(signal ? { signal } : {}),
      ...(watchdog ? { watchdogMs: watchdog.ms, onWatchdog: watchdog.onWatchdog } : {}),
      onBrokenFreeze: (event) =>
        this.#emit({
          type: 'note',
          level: 'error',
          text: `resident freeze process of ${event.hook} (pid ${event.pid}) ended while frozen (${event.signal ?? `exit ${event.exitCode}`}): broken freeze; its thaw will report failure`,
        }),
    });
    const step = this.#endSequence('freeze', 'manual', attempt.result);
    const frozen = this.engine.frozen;
    if (!attempt.ok) {
      if (!frozen) return { ok: false, steps: [step] };
      const rollback = await this.thaw('rollback');
      return { ok: false, steps: [step, rollback] };
    }
    return { ok: true, steps: [step], frozen: { hooks: [...(frozen?.hooks ?? [])], since: frozen?.since ?? this.#clock.wallNow() } };
  }

  /**
   * Thaws what the engine holds frozen, in reverse order (every hook, even after a failure),
   * then records in the journal that nothing is frozen. With `timeoutMs`, the sequence has that
   * limit like a host THAW; without, each hook gets --hook-timeout (as the daemon's own thaws).
   * A thaw is never skipped for lack of time either way.
   */
  async thaw(reason: HookReason, timeoutMs?: number): Promise<StepReport> {
    const deadline = timeoutMs === undefined ? undefined : this.#clock.now() + timeoutMs;
    const hooks = this.engine.frozen?.hooks ?? [];
    this.#emit({ type: 'sequence', op: 'thaw', reason, hooks: [...hooks].reverse().map((f) => f.hook.name), ...(timeoutMs === undefined ? {} : { timeoutMs }) });
    const result = await this.engine.thaw(reason, { observer: this.#observer(deadline), ...(deadline === undefined ? {} : { deadline }) });
    return this.#endSequence('thaw', reason, result);
  }

  /** Thaws a freeze the journal records and whose holder is gone (names resolved in the hooks directory). */
  async recover(record: FrozenRecord, timeoutMs: number): Promise<StepReport> {
    const deadline = this.#clock.now() + timeoutMs;
    this.#emit({ type: 'sequence', op: 'thaw', reason: 'recovery', hooks: [...record.hooks].reverse().map((h) => h.name), timeoutMs });
    const result = await this.engine.recover(record, { observer: this.#observer(deadline), deadline });
    return this.#endSequence('thaw', 'recovery', result);
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
