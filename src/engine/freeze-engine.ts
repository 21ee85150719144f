// FreezeEngine: the one owner of a freeze, for host requests (the daemon) and manual runs (the
// keeper, hvvss freeze -- CMD, hvvss thaw) alike. Its rules are what make "nothing is left
// frozen" hold under any fault:
//
//  1. Write-ahead: the intent (every hook about to be frozen, by whom, for which request) is
//     durable before the first freeze hook starts. A process killed at any instant after that
//     leaves a journal that names everything that may be frozen; recovery thaws it all (thaw
//     hooks are idempotent by contract).
//  2. Nothing is written while anything may be frozen: from the intent until the last thaw,
//     log lines are held in memory (bounded) and no file is touched. The journal is cleared
//     only after the last thaw.
//  3. The watchdog is armed with the intent, before the first freeze hook runs, so a freeze
//     whose answer never gets out, or whose THAW never comes, is thawed all the same.
//  4. Once the intent is recorded, the engine is frozen until thaw() has run, whatever the
//     freeze's outcome: the owner's every exit path calls thaw().
//  5. With an fs stage (the fs role), the file systems of the mount plan are frozen after the
//     freeze hooks and thawed before the thaw hooks; the intent names them before the first one
//     is frozen, a freeze that fails on one rolls back the ones before it, and recovery thaws
//     what the journal names (still mounted, same rules) before the hooks. Recovery does so
//     even when this run has no fs stage: a journal's file systems are never left frozen.
//  6. With the fs stage on its own channel (the daemon registered on hv_fsvss_dev too), the host
//     freeze plans the mounts and names them in the intent, but freezes only the hooks: the fs
//     channel's FREEZE (which the kernel sends after the app's) freezes the mounts (freezeFs) and
//     its THAW (sent before the app's) thaws them (thawFs). The intent already names them, so
//     nothing is written between the first freeze hook and the last thaw.
import { scanProblems } from '../hooks/index.ts';
import type { FreezeResult, FrozenHook, HookReason, HookRef, SequenceResult } from '../hooks/index.ts';
import type { HookEngine, RunContext } from './hook-engine.ts';
import type { FreezeJournal, FrozenRecord } from '../state/freeze-journal.ts';
import type { HoldingLogger } from '../log/logger.ts';
import type { Clock, Timer } from '../util/clock.ts';
import { stopLeftoverFreezes, type LeftoverProcess } from './leftover-freezes.ts';
import { HOLDING_ACTIONS, recoverMounts, type FsOutcome, type FsStage, type MountResult, type RecordedMount } from '../fs/fs-stage.ts';
import type { PlannedMount } from '../fs/mount-plan.ts';

/** How long a leftover freeze hook gets between SIGTERM and SIGKILL at recovery. */
const LEFTOVER_GRACE_MS = 1_000;

/** What the engine holds frozen (or may: from the intent on). */
export interface Freeze {
  readonly reason: HookReason;
  readonly msgid: string;
  /** When the intent was recorded. */
  readonly since: Date;
  /** When the watchdog thaws, if one is armed. */
  readonly watchdogAt: Date | undefined;
  /** The hooks whose freeze was started, in start order (the intent's list until the freeze returns). */
  readonly hooks: readonly FrozenHook[];
  /** The file systems held frozen by the fs stage, in freeze order (the intent's list until it has run). */
  readonly mounts: readonly PlannedMount[];
  /** When the host's FREEZE was read (monotonic), for a host freeze: the fs channel's FREEZE of the same transaction counts its deadline from it. */
  readonly readAt?: number;
}

export interface FreezeRequest extends Omit<RunContext, 'deadline'> {
  readonly deadline?: number;
  /**
   * When the host's request was read (monotonic). The kernel has one timer for the whole
   * transaction, started before this read: the fs channel's FREEZE, which comes after the
   * application's, has only what is left of it.
   */
  readonly readAt?: number;
  /** Arm a watchdog: `onWatchdog` is called this long after the intent unless thawed before. */
  readonly watchdogMs?: number;
  readonly onWatchdog?: () => void;
}

export interface FreezeAttempt {
  readonly ok: boolean;
  readonly result: FreezeResult;
  /** What the fs stage did, when it ran. */
  readonly fs?: FsOutcome;
}

/** A thaw's outcome: the hooks', and what the fs stage did to each file system (for the transaction history). */
export interface ThawResult extends SequenceResult {
  readonly mounts?: readonly MountResult[];
}

export interface ThawOptions {
  readonly deadline?: number;
  readonly msgid?: string;
  readonly observer?: RunContext['observer'];
}

export interface FreezeEngineDeps {
  readonly hooks: HookEngine;
  /**
   * Before recovery thaws: stops the freeze hooks a dead holder left running (they would finish
   * their freeze after the thaw), and says which. Default: stopLeftoverFreezes.
   */
  readonly stopLeftovers?: (hookPaths: readonly string[]) => Promise<readonly LeftoverProcess[]>;
  readonly journal: FreezeJournal;
  readonly clock: Clock;
  readonly log: HoldingLogger;
  readonly holder: { readonly kind: 'daemon' | 'manual'; readonly pid: number };
  /** The fs role: file systems frozen after the hooks, thawed before them. */
  readonly fs?: FsStage;
  /** Recovery of the file systems a journal names (default: recoverMounts on this machine). */
  readonly recoverMounts?: (recorded: readonly RecordedMount[]) => Promise<FsOutcome>;
  /** The fs stage runs at the fs channel's FREEZE/THAW (freezeFs/thawFs), not inside the host freeze. */
  readonly fsChannel?: boolean;
}

interface FrozenState {
  readonly freeze: Omit<Freeze, 'hooks' | 'mounts'>;
  hooks: FrozenHook[];
  mounts: PlannedMount[];
  /** With the fs channel: the plan's mounts (freeze order) that freezeFs is to freeze. */
  pendingFs?: PlannedMount[];
  readonly watchdog: Timer | undefined;
}

const recorded = (m: PlannedMount): RecordedMount => ({ mountpoint: m.mountpoint, fstype: m.fstype, action: m.action });

function failed(problem: string): SequenceResult {
  return { ok: false, results: [], problems: [problem] };
}

export class FreezeEngine {
  readonly hooks: HookEngine;
  readonly journal: FreezeJournal;
  readonly #clock: Clock;
  readonly #log: HoldingLogger;
  readonly #holder: FreezeEngineDeps['holder'];
  readonly #stopLeftovers: NonNullable<FreezeEngineDeps['stopLeftovers']>;
  readonly fs: FsStage | undefined;
  readonly #recoverMounts: NonNullable<FreezeEngineDeps['recoverMounts']>;
  #frozen: FrozenState | undefined;
  readonly fsChannel: boolean;
  /** The fs channel's freeze or thaw under way: a thaw (watchdog, shutdown) waits for it, never interleaves. */
  #fsOp: Promise<unknown> = Promise.resolve();

  constructor(deps: FreezeEngineDeps) {
    this.hooks = deps.hooks;
    this.journal = deps.journal;
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.#holder = deps.holder;
    this.#stopLeftovers = deps.stopLeftovers ?? ((paths) => stopLeftoverFreezes(paths, LEFTOVER_GRACE_MS));
    this.fs = deps.fs;
    this.fsChannel = deps.fsChannel === true && deps.fs !== undefined;
    this.#recoverMounts = deps.recoverMounts ?? ((mounts) => recoverMounts(mounts, { log: deps.log, clock: deps.clock }));
  }

  /** Set from the intent until thaw() has run. */
  get frozen(): Freeze | undefined {
    const frozen = this.#frozen;
    return frozen && { ...frozen.freeze, hooks: frozen.hooks, mounts: frozen.mounts };
  }

  /**
   * The fs role's verdict for a CHECK: why the file systems cannot be frozen consistently now
   * (a refused mount, an action not built yet), or nothing. Without the fs role: nothing.
   */
  async checkFs(): Promise<string[]> {
    if (!this.fs) return [];
    try {
      return this.fs.problems(await this.fs.plan());
    } catch (err) {
      return [`cannot plan the file systems: ${(err as Error).message}`];
    }
  }

  /**
   * Freezes every runnable hook in name order. When it returns with `frozen` set (even on
   * failure), thaw() must be called: with reason rollback after a failure.
   */
  async freeze(request: FreezeRequest): Promise<FreezeAttempt> {
    if (this.#frozen) throw new Error('FreezeEngine.freeze: already frozen; thaw first');
    const scan = await this.hooks.scan();
    const { watchdogMs, onWatchdog, readAt, ...context } = request;
    // The plan is made before anything is frozen: a mount it refuses fails the freeze now. Only a
    // host freeze freezes file systems: a manual one (hvvss freeze -- CMD) runs a command that
    // may well write to them.
    const fsStage = request.reason === 'host' ? this.fs : undefined;
    let mounts: PlannedMount[] = [];
    if (fsStage) {
      let problems: string[];
      try {
        const plan = await fsStage.plan();
        problems = fsStage.problems(plan);
        mounts = fsStage.freezeOrder(plan);
      } catch (err) {
        problems = [`cannot plan the file systems: ${(err as Error).message}`];
      }
      if (problems.length > 0) {
        const problem = `the file systems cannot be frozen consistently, nothing was frozen: ${problems.join('; ')}`;
        this.#log.error(problem);
        return { ok: false, result: { ...failed(problem), frozen: [] } };
      }
    }
    const held = mounts.filter((m) => HOLDING_ACTIONS.has(m.action));
    if (scanProblems(scan).length > 0 || (scan.runnable.length === 0 && mounts.length === 0)) {
      // Nothing will run: nothing to record.
      const result = await this.hooks.freeze(scan, context);
      return { ok: result.ok, result };
    }
    const since = this.#clock.wallNow();
    const watchdogAt = watchdogMs === undefined ? undefined : new Date(since.getTime() + watchdogMs);
    const intended: HookRef[] = scan.runnable.map((entry) => ({ name: entry.name, path: entry.path }));
    const msgid = request.msgid ?? '';
    try {
      await this.journal.recordIntent({
        since: since.toISOString(),
        reason: request.reason,
        msgid,
        holder: this.#holder,
        hooksDir: scan.dir,
        hooks: intended,
        ...(watchdogAt ? { watchdogAt: watchdogAt.toISOString() } : {}),
        ...(held.length > 0 ? { mounts: held.map(recorded) } : {}),
      });
    } catch (err) {
      const problem =
        `cannot record the freeze in ${this.journal.path} (${(err as Error).message}), and a freeze that is not recorded could be left ` +
        'frozen by a crash: nothing was frozen. Fix the state directory (--state-dir) and try again';
      this.#log.error(problem);
      return { ok: false, result: { ...failed(problem), frozen: [] } };
    }
    const watchdog = watchdogMs === undefined ? undefined : this.#clock.setTimer(watchdogMs, () => onWatchdog?.(), { unref: true });
    const frozen: FrozenState = {
      freeze: { reason: request.reason, msgid, since, watchdogAt, ...(readAt === undefined ? {} : { readAt }) },
      hooks: intended.map((hook) => ({ hook })),
      mounts: held,
      watchdog,
    };
    this.#frozen = frozen;
    // From here until the last thaw the file systems may be suspended: keep lines in memory.
    this.#log.hold();
    let result: FreezeResult;
    try {
      result = await this.hooks.freeze(scan, context);
    } catch (err) {
      // Cannot happen by design (the sequence reports failures as results); if it does, every
      // intended hook counts as started, so that the rollback thaws them all.
      result = { ...failed(`the freeze sequence broke: ${(err as Error).message}`), frozen: frozen.hooks };
    }
    frozen.hooks = result.frozen;
    // Until the fs stage has run, nothing of it is frozen; from its start, the intent's list counts.
    frozen.mounts = [];
    if (this.fsChannel && result.ok && mounts.length > 0) frozen.pendingFs = mounts;
    if (this.fsChannel || !result.ok || mounts.length === 0 || !fsStage) return { ok: result.ok, result };
    frozen.mounts = held;
    let fs: FsOutcome;
    try {
      fs = await fsStage.freeze(mounts, request.deadline);
    } catch (err) {
      // Cannot happen by design; if it does, every intended mount counts as frozen for the thaw.
      fs = { ok: false, results: [], problems: [`the fs stage broke: ${(err as Error).message}`], held };
    }
    frozen.mounts = [...fs.held];
    if (fs.ok) return { ok: true, result, fs };
    return { ok: false, result: { ...result, ok: false, problems: [...result.problems, ...fs.problems] }, fs };
  }

  /**
   * The fs channel's FREEZE: freezes the mounts the host freeze planned (and named in the
   * intent). A failure has rolled back the mounts it froze; the caller then thaws the rest
   * (thaw with reason rollback), as after any failed freeze.
   */
  freezeFs(deadline: number | undefined): Promise<FsOutcome> {
    const run = this.#fsOp.then(() => this.#freezeFs(deadline));
    this.#fsOp = run.catch(() => {});
    return run;
  }

  async #freezeFs(deadline: number | undefined): Promise<FsOutcome> {
    const frozen = this.#frozen;
    const fsStage = this.fs;
    const refuse = (problem: string): FsOutcome => ({ ok: false, results: [], problems: [problem], held: [] });
    if (!fsStage || !this.fsChannel) return refuse('the fs role is not on the fs channel');
    if (!frozen || frozen.freeze.reason !== 'host') {
      return refuse('no host freeze of the hooks is under way (the application FREEZE failed, was rolled back, or was never received): nothing was frozen');
    }
    const mounts = frozen.pendingFs;
    if (!mounts || mounts.length === 0) return { ok: true, results: [], problems: [], held: [] };
    frozen.pendingFs = undefined;
    // From its start, every mount of the intent counts as frozen for a thaw.
    frozen.mounts = mounts.filter((m) => HOLDING_ACTIONS.has(m.action));
    let fs: FsOutcome;
    try {
      fs = await fsStage.freeze(mounts, deadline);
    } catch (err) {
      fs = { ok: false, results: [], problems: [`the fs stage broke: ${(err as Error).message}`], held: frozen.mounts };
    }
    frozen.mounts = [...fs.held];
    return fs;
  }

  /**
   * The fs channel's THAW: thaws the mounts only (the hooks stay frozen until the application
   * THAW). Nothing is written: the journal still names the mounts until thaw() clears it.
   */
  thawFs(): Promise<FsOutcome> {
    const run = this.#fsOp.then(() => this.#thawFs());
    this.#fsOp = run.catch(() => {});
    return run;
  }

  async #thawFs(): Promise<FsOutcome> {
    const frozen = this.#frozen;
    if (!frozen) return { ok: true, results: [], problems: [], held: [] };
    // A THAW before the fs FREEZE (the host gave up): the mounts are no longer to be frozen.
    frozen.pendingFs = undefined;
    if (frozen.mounts.length === 0 || !this.fs) return { ok: true, results: [], problems: [], held: [] };
    const fs = await this.fs.thaw(frozen.mounts);
    frozen.mounts = [...fs.held];
    return fs;
  }

  /**
   * Thaws what is frozen, in reverse, every hook even if one fails; then writes the held log
   * lines and clears the journal. Nothing frozen: nothing to do, nothing written.
   */
  async thaw(reason: HookReason, options: ThawOptions = {}): Promise<ThawResult> {
    // An fs channel freeze under way finishes first: its mounts are then thawed here too.
    await this.#fsOp;
    const frozen = this.#frozen;
    if (!frozen) return { ok: true, results: [], problems: [] };
    frozen.pendingFs = undefined;
    const anything = frozen.hooks.length > 0 || frozen.mounts.length > 0;
    const result = await this.#thawFrozen(frozen, reason, options);
    if (frozen.mounts.length > 0) return this.#keepJournal(result, frozen.mounts);
    return this.#clear(result, reason, anything);
  }

  /** A file system that could not be thawed: the journal stays, so the next start (or request) tries again. */
  #keepJournal(result: ThawResult, still: readonly PlannedMount[]): ThawResult {
    const problem =
      `${still.map((m) => m.mountpoint).join(', ')} could not be thawed: the freeze journal ${this.journal.path} is kept, ` +
      'so the next start of the daemon (or "hvvss thaw") tries again';
    this.#log.error(problem);
    return { ...result, ok: false, problems: [...result.problems, problem] };
  }

  async #thawFrozen(frozen: FrozenState, reason: HookReason, options: ThawOptions): Promise<ThawResult> {
    frozen.watchdog?.cancel();
    // File systems first: a thaw hook may write to them.
    const fsProblems: string[] = [];
    const mounts: MountResult[] = [];
    if (frozen.mounts.length > 0) {
      const fs = this.fs ? await this.fs.thaw(frozen.mounts) : await this.#recoverMounts(frozen.mounts.map(recorded));
      fsProblems.push(...fs.problems);
      mounts.push(...fs.results);
      frozen.mounts = [...fs.held];
    }
    let result: SequenceResult;
    try {
      result = await this.hooks.thaw(frozen.hooks, {
        reason,
        msgid: options.msgid ?? frozen.freeze.msgid,
        ...(options.deadline === undefined ? {} : { deadline: options.deadline }),
        ...(options.observer ? { observer: options.observer } : {}),
      });
    } catch (err) {
      result = failed(`the thaw sequence broke: ${(err as Error).message}`);
    }
    this.#frozen = undefined;
    // Every hook is thawed: writing is safe again.
    this.#log.flush();
    const withMounts: ThawResult = mounts.length > 0 ? { ...result, mounts } : result;
    return fsProblems.length === 0 ? withMounts : { ...withMounts, ok: false, problems: [...fsProblems, ...result.problems] };
  }

  /**
   * Thaws a freeze recorded by a holder that is gone (crash, SIGKILL). Only the names count:
   * each is resolved in the configured hooks directory and run only if it passes the hooks'
   * checks there, never from a path read from the file. A hooks directory that cannot be used
   * keeps the journal, so the thaw is tried again once it is fixed.
   */
  async recover(record: FrozenRecord, options: ThawOptions = {}): Promise<ThawResult> {
    if (this.#frozen) throw new Error('FreezeEngine.recover: already frozen');
    const scan = await this.hooks.scan();
    if (scan.problem) {
      const problem = `cannot thaw the ${record.hooks.length} hook(s) the freeze journal names: ${scan.problem.message}; the journal is kept until they can be thawed`;
      this.#log.error(problem);
      return failed(problem);
    }
    const problems: string[] = [];
    if (record.hooksDir !== scan.dir) {
      this.#log.warn(`the freeze journal was written for hooks in ${record.hooksDir}; thawing the same names in the configured ${scan.dir}`);
    }
    const hooks: FrozenHook[] = [];
    for (const { name } of record.hooks) {
      const entry = scan.entries.find((e) => e.name === name);
      if (!entry) problems.push(`cannot thaw ${name}: it is no longer in ${scan.dir}`);
      else if (entry.verdict !== 'runnable') problems.push(`cannot thaw ${name}: ${entry.verdict}, ${entry.why ?? 'not runnable'}`);
      else hooks.push({ hook: { name: entry.name, path: entry.path } });
    }
    for (const problem of problems) this.#log.error(problem);
    try {
      const leftovers = await this.#stopLeftovers(hooks.map((h) => h.hook.path));
      for (const p of leftovers) this.#log.warn(`stopped a freeze hook left running by the previous holder: pid ${p.pid} (${p.args})`);
    } catch (err) {
      this.#log.warn(`cannot look for freeze hooks left running by the previous holder: ${(err as Error).message}`);
    }
    // The file systems first (before the thaw hooks, which may write to them), by the plan's rules.
    const fsProblems: string[] = [];
    const recoveredMounts: MountResult[] = [];
    let stillFrozen: readonly RecordedMount[] = [];
    if (record.mounts && record.mounts.length > 0) {
      // Until they are thawed, a log line written to a file on one of them would block: hold them.
      this.#log.hold();
      this.#log.warn(`the freeze journal names ${record.mounts.length} file system(s) that may be frozen: ${record.mounts.map((m) => m.mountpoint).join(', ')}; thawing them first`);
      let fs: FsOutcome;
      try {
        fs = await this.#recoverMounts(record.mounts);
      } catch (err) {
        fs = { ok: false, results: [], problems: [`cannot thaw the file systems: ${(err as Error).message}`], held: record.mounts as PlannedMount[] };
      }
      fsProblems.push(...fs.problems);
      recoveredMounts.push(...fs.results);
      stillFrozen = fs.held;
    }
    const frozen: FrozenState = { freeze: { reason: record.reason, msgid: record.msgid, since: new Date(record.since), watchdogAt: undefined }, hooks, mounts: [], watchdog: undefined };
    this.#frozen = frozen;
    const thawed = await this.#thawFrozen(frozen, 'recovery', options);
    const withMounts: ThawResult = recoveredMounts.length > 0 ? { ...thawed, mounts: [...recoveredMounts, ...(thawed.mounts ?? [])] } : thawed;
    const result = fsProblems.length === 0 ? withMounts : { ...withMounts, ok: false, problems: [...fsProblems, ...thawed.problems] };
    if (stillFrozen.length > 0) {
      const kept = this.#keepJournal(result, stillFrozen as PlannedMount[]);
      return { ...kept, problems: [...problems, ...kept.problems] };
    }
    // The names that cannot be run any more cannot be thawed by anyone: clear all the same.
    const cleared = await this.#clear(result, 'recovery', true);
    return { ...cleared, ok: cleared.ok && problems.length === 0, problems: [...problems, ...cleared.problems] };
  }

  async #clear(result: ThawResult, reason: HookReason, record: boolean): Promise<ThawResult> {
    try {
      await this.journal.clear(record ? { at: this.#clock.wallNow().toISOString(), reason, ok: result.ok } : undefined);
      return result;
    } catch (err) {
      const problem =
        `cannot clear the freeze journal ${this.journal.path} (${(err as Error).message}): the hooks are thawed, but the record stays, ` +
        'so the next start thaws them again (thaw hooks are idempotent); fix the state directory';
      this.#log.error(problem);
      return { ...result, ok: false, problems: [...result.problems, problem] };
    }
  }
}
