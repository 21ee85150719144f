// The fs stage of a freeze: after the freeze hooks, the plan's file systems are flushed (zpool
// sync, sync) and frozen (FIFREEZE), and at thaw they are thawed before the thaw hooks, so an
// application's thaw never writes to a frozen file system. The freeze engine owns the order,
// the write-ahead journal and every exit path; this module only acts on mounts and reports.
//
// Rules:
//  - Children before parents: mounts are frozen in reverse mount order ("/" last, as Linux's
//    hv_vss_daemon does), thawed in the reverse of that.
//  - A mount that fails to freeze rolls back the ones frozen before it, at once.
//  - Thaw tries every held mount even if one fails; thawing a mount that is not frozen is fine
//    (recovery and a second thaw must be safe).
//  - Actions this build cannot perform (UFS suspension without the helper) make the plan
//    fail at CHECK, naming the mount and the flag that settles it: never silently skipped.
//  - Remount read-only (msdosfs, ext2fs, vfat: no freeze call) runs first at freeze and last at
//    thaw, in this process: before any UFS suspension, so mount(8) never waits on a suspended
//    file system. It only ever touches a mount that is read-write just before it: one already
//    read-only is left alone, and never remounted read-write at thaw. Refused because a file is
//    open for writing (EBUSY): the mount's policy (skip-if-busy, sync-if-busy) decides, else the
//    freeze fails naming the mount and the fixes.
import { childProcess } from '../util/builtins.ts';
import { planMounts, type FsPolicy, type MountAction, type MountPlan, type PlannedMount } from './mount-plan.ts';
import { liveMountIn, mountTableOs, readMountTable, readMountTableSync, type MountEntry, type MountTableOs } from './mount-table.ts';
import { DEFAULT_POLICY_FILE } from './policy-file.ts';
import type { Logger } from '../log/logger.ts';
import { FreezeHelper, helperProblem } from './freeze-helper.ts';
import type { Clock } from '../util/clock.ts';

/** What the journal records of a held mount: enough to find it again, never trusted beyond that. */
export interface RecordedMount {
  readonly mountpoint: string;
  readonly fstype: string;
  readonly action: MountAction;
}

export interface MountResult {
  readonly mountpoint: string;
  readonly fstype: string;
  readonly action: MountAction;
  readonly op: 'freeze' | 'thaw';
  readonly ok: boolean;
  readonly durationMs: number;
  readonly note?: string;
  readonly error?: string;
}

export interface FsOutcome {
  readonly ok: boolean;
  readonly results: readonly MountResult[];
  readonly problems: readonly string[];
  /** Mounts still held (frozen) once this returns, in freeze order. */
  readonly held: readonly PlannedMount[];
}

/** The system calls and commands the stage uses; tests of the rules pass fakes. */
export interface MountOps {
  fifreeze(mountpoint: string): Promise<void>;
  /** false: it was not frozen. */
  fithaw(mountpoint: string): boolean;
  /** Runs a command to completion (zpool sync, sync); rejects with its reason. */
  run(file: string, args: readonly string[], timeoutMs: number): Promise<void>;
  /** The visible mount at a path now (live flags), or undefined. Synchronous: thaw paths use it. */
  liveMount?(mountpoint: string): MountEntry | undefined;
  /** Remounts read-only; rejects with a `code` (EBUSY: a file on it is open for writing). */
  remountReadOnly?(target: MountEntry): Promise<void>;
  /** Remounts read-write. Synchronous, like FITHAW: it runs on exit paths. */
  remountReadWrite?(target: MountEntry): void;
}

/** Actions that hold the file system from freeze to thaw: recorded in the journal before they start. */
export const HOLDING_ACTIONS: ReadonlySet<MountAction> = new Set(['fifreeze', 'suspend', 'remount-ro']);

/** What this build can do, per OS; the rest is refused at CHECK with the way out. */
const BUILT: Record<MountTableOs, ReadonlySet<MountAction>> = {
  linux: new Set(['fifreeze', 'remount-ro', 'zpool-sync', 'sync', 'skip']),
  freebsd: new Set(['remount-ro', 'zpool-sync', 'sync', 'skip']),
};

const COMMAND_TIMEOUT_MS = 10_000;

function runCommand(file: string, args: readonly string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    // execFile takes whole milliseconds only (a deadline's remainder is fractional).
    childProcess().execFile(file, [...args], { timeout: Math.max(1, Math.ceil(timeoutMs)), encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const why = err.killed ? `killed after ${timeoutMs} ms` : stderr.trim() || err.message;
      reject(new Error(`${file} ${args.join(' ')}: ${why}`));
    });
  });
}

const liveMount = (mountpoint: string) => liveMountIn(readMountTableSync(), mountpoint);

/** The real system: koffi's FIFREEZE/FITHAW and remounts (loaded on first use), commands through execFile. */
export function systemMountOps(): MountOps {
  let native: typeof import('../native/fs-freeze.ts') | undefined;
  let remount: typeof import('../native/remount.ts') | undefined;
  const load = async () => (native ??= await import('../native/fs-freeze.ts'));
  return {
    fifreeze: async (mountpoint) => (await load()).fifreeze(mountpoint),
    fithaw: (mountpoint) => {
      // Loaded by the freeze that made a thaw necessary, or by recovery's freezeOps().
      if (!native) throw new Error('FITHAW before the native bindings were loaded');
      return native.fithaw(mountpoint);
    },
    run: runCommand,
    liveMount,
    remountReadOnly: async (target) => (remount ??= await import('../native/remount.ts')).remountReadOnly(target),
    remountReadWrite: (target) => {
      // Loaded by the remount that made this one necessary.
      if (!remount) throw new Error('remount before the native bindings were loaded');
      remount.remountReadWrite(target);
    },
  };
}

/** Ops with the native bindings loaded, so fithaw and the read-write remount work before any freeze (recovery). */
export async function loadedMountOps(): Promise<MountOps> {
  const native = await import('../native/fs-freeze.ts');
  const remount = await import('../native/remount.ts');
  return { fifreeze: native.fifreeze, fithaw: native.fithaw, run: runCommand, liveMount, remountReadOnly: remount.remountReadOnly, remountReadWrite: remount.remountReadWrite };
}

/** Where the admin says what to do with a mount, for messages. */
function policyHint(policy: FsPolicy): string {
  return policy.file ?? `${DEFAULT_POLICY_FILE} (or --fs-policy FILE)`;
}

function busyProblem(m: PlannedMount, os: MountTableOs, policy: FsPolicy): string {
  const who = os === 'freebsd' ? `fstat -f ${m.mountpoint}` : `fuser -vm ${m.mountpoint}`;
  return (
    `cannot remount ${describe(m)} read-only: a file on it is open for writing (EBUSY), so it could change during the snapshot. ` +
    `Close that file ("${who}" shows who has it open), or say what to do when it is busy: a line "${m.mountpoint} sync-if-busy" (flush it only) ` +
    `or "${m.mountpoint} skip-if-busy" (leave it out) in ${policyHint(policy)}, or --fs-skip ${m.mountpoint} to leave it out of every freeze`
  );
}

export interface FsStageOptions {
  readonly policy: FsPolicy;
  readonly log: Logger;
  readonly clock: Clock;
  readonly os?: MountTableOs;
  readonly ops?: MountOps;
  readonly readTable?: () => Promise<MountEntry[]>;
  /**
   * The suspension helper (hvvss-fsfreeze): when set, the held mounts are frozen by that
   * single-threaded process instead of this one. Required for UFS on FreeBSD; optional on Linux.
   */
  readonly helper?: string;
  /**
   * Called when the helper dies while it holds UFS suspensions: FreeBSD resumed them with it, so
   * the freeze is broken and the owner should thaw the rest now. `why` says what happened.
   */
  readonly onHelperLost?: (why: string) => void;
}

function describe(m: Pick<PlannedMount, 'mountpoint' | 'fstype'>): string {
  return `${m.mountpoint} (${m.fstype})`;
}

export class FsStage {
  readonly policy: FsPolicy;
  readonly os: MountTableOs;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #ops: MountOps;
  readonly #readTable: () => Promise<MountEntry[]>;
  readonly #helperPath: string | undefined;
  /** The running helper while it holds mounts. */
  #helper: FreezeHelper | undefined;
  readonly #onHelperLost: ((why: string) => void) | undefined;

  constructor(options: FsStageOptions) {
    this.policy = options.policy;
    this.os = options.os ?? mountTableOs();
    this.#log = options.log;
    this.#clock = options.clock;
    this.#ops = options.ops ?? systemMountOps();
    this.#readTable = options.readTable ?? (() => readMountTable(this.os));
    this.#helperPath = options.helper;
    this.#onHelperLost = options.onHelperLost;
  }

  #built(action: MountAction): boolean {
    if (BUILT[this.os].has(action)) return true;
    // UFS suspension exists only through the helper.
    return action === 'suspend' && this.os === 'freebsd' && this.#helperPath !== undefined;
  }

  /** The plan from the live mount table under the admin's policy. */
  async plan(): Promise<MountPlan> {
    return planMounts(await this.#readTable(), this.os, this.policy);
  }

  /** Why a freeze with this plan must not start: the plan's problems, and actions not built yet on this OS. */
  problems(plan: MountPlan): string[] {
    const problems = [...plan.problems];
    // The remount runs in this process: only the mounts the helper would hold need it.
    const held = plan.mounts.filter((m) => HOLDING_ACTIONS.has(m.action) && m.action !== 'remount-ro' && this.#built(m.action));
    if (this.#helperPath !== undefined && held.length > 0) {
      const problem = helperProblem(this.#helperPath);
      if (problem) problems.push(`cannot freeze ${held.map(describe).join(', ')}: ${problem}`);
    }
    for (const m of plan.mounts) {
      if (m.action === 'refuse' || this.#built(m.action)) continue;
      problems.push(
        `${describe(m)} needs "${m.action}", which this hvvss cannot do yet on ${this.os}: ` +
          `--fs-skip ${m.mountpoint} leaves it out, --fs-sync ${m.mountpoint} flushes it without holding it`,
      );
    }
    return problems;
  }

  /** The mounts a freeze acts on, in freeze order (children before parents). */
  freezeOrder(plan: MountPlan): PlannedMount[] {
    return plan.mounts.filter((m) => m.action !== 'skip' && m.action !== 'refuse').reverse();
  }

  /**
   * Flushes, then freezes, in `mounts` order. A freeze that fails thaws the ones frozen before it
   * (reverse order) and the outcome is a failure; `held` then lists only what could not be thawed.
   */
  async freeze(mounts: readonly PlannedMount[], deadline?: number): Promise<FsOutcome> {
    const results: MountResult[] = [];
    const problems: string[] = [];
    const timeout = () => Math.max(1, Math.min(COMMAND_TIMEOUT_MS, deadline === undefined ? COMMAND_TIMEOUT_MS : deadline - this.#clock.now()));
    const synced = new Set<string>();
    for (const m of mounts.filter((x) => !HOLDING_ACTIONS.has(x.action))) {
      const started = this.#clock.now();
      try {
        if (m.action === 'zpool-sync') {
          const pool = m.pool ?? m.source;
          // One sync per pool covers every dataset in it.
          if (!synced.has(pool)) await this.#ops.run('zpool', ['sync', pool], timeout());
          synced.add(pool);
        } else if (m.action === 'sync') {
          await flush(this.#ops, this.os, m.mountpoint, timeout());
        }
        results.push(this.#result(m, 'freeze', started, true));
      } catch (err) {
        // A flush that fails leaves nothing held: the freeze fails, nothing to roll back here.
        const problem = `${m.action} of ${describe(m)} failed: ${(err as Error).message}`;
        problems.push(problem);
        results.push(this.#result(m, 'freeze', started, false, problem));
        return { ok: false, results, problems, held: [] };
      }
    }
    const remounted = await this.#remountReadOnly(mounts.filter((x) => x.action === 'remount-ro'), results, timeout);
    if (!remounted.ok) return remounted;
    const outcome = await this.#freezeHolding(mounts.filter((x) => HOLDING_ACTIONS.has(x.action) && x.action !== 'remount-ro'), results);
    if (outcome.ok) return { ...outcome, held: [...remounted.held, ...outcome.held] };
    if (remounted.held.length === 0) return outcome;
    const rollback = this.#thawAll(remounted.held);
    return { ok: false, results: [...outcome.results, ...rollback.results], problems: [...outcome.problems, ...rollback.problems], held: [...rollback.held, ...outcome.held] };
  }

  /**
   * Remounts read-only, in order, each mount that is read-write now. A refusal the mount's policy
   * does not settle remounts the ones before it read-write again and fails.
   */
  async #remountReadOnly(mounts: readonly PlannedMount[], results: MountResult[], timeout: () => number): Promise<FsOutcome> {
    const held: PlannedMount[] = [];
    const ops = this.#ops;
    for (const m of mounts) {
      const started = this.#clock.now();
      let problem: string;
      try {
        if (!ops.liveMount || !ops.remountReadOnly || !ops.remountReadWrite) throw new Error('remounting is not available to this fs stage');
        const live = ops.liveMount(m.mountpoint);
        if (!live || live.fstype !== m.fstype) throw new Error(`it is ${live ? `now ${live.fstype}` : 'no longer mounted'}`);
        if (live.readOnly) {
          // Not ours to change back: it stays read-only after the thaw too.
          results.push({ ...this.#result(m, 'freeze', started, true), note: 'already read-only: left as it is' });
          this.#log.info(`${describe(m)} is already read-only: left as it is`);
          continue;
        }
        try {
          await ops.remountReadOnly(live);
          held.push(m);
          results.push(this.#result(m, 'freeze', started, true));
          this.#log.info(`remounted ${describe(m)} read-only in ${Math.round(this.#clock.now() - started)} ms`);
          continue;
        } catch (err) {
          if ((err as { code?: unknown }).code !== 'EBUSY') throw err;
          if (!m.ifBusy) {
            problem = busyProblem(m, this.os, this.policy);
          } else {
            if (m.ifBusy === 'sync') await flush(this.#ops, this.os, m.mountpoint, timeout());
            const note = `a file on it is open for writing: ${m.ifBusy === 'sync' ? 'flushed only' : 'left out'} (${m.origin ?? 'policy'})`;
            results.push({ ...this.#result(m, 'freeze', started, true), note });
            this.#log.warn(`cannot remount ${describe(m)} read-only: ${note}`);
            continue;
          }
        }
      } catch (err) {
        problem = `cannot remount ${describe(m)} read-only: ${(err as Error).message}`;
      }
      results.push(this.#result(m, 'freeze', started, false, problem));
      this.#log.error(`${problem}${held.length > 0 ? `; remounting the ${held.length} file system(s) before it read-write` : ''}`);
      const rollback = this.#thawAll(held);
      return { ok: false, results: [...results, ...rollback.results], problems: [problem, ...rollback.problems], held: rollback.held };
    }
    return { ok: true, results, problems: [], held };
  }

  /** FIFREEZE (or the helper) on the mounts that hold, in order; a failure thaws the ones before it. */
  async #freezeHolding(holding: readonly PlannedMount[], results: MountResult[]): Promise<FsOutcome> {
    const problems: string[] = [];
    if (this.#helperPath !== undefined && holding.length > 0) return this.#freezeByHelper(this.#helperPath, holding, results);
    const frozen: PlannedMount[] = [];
    for (const m of holding) {
      const started = this.#clock.now();
      try {
        if (m.action !== 'fifreeze') throw new Error(`"${m.action}" is not built yet`);
        await this.#ops.fifreeze(m.mountpoint);
        frozen.push(m);
        results.push(this.#result(m, 'freeze', started, true));
        this.#log.info(`froze ${describe(m)} (FIFREEZE) in ${Math.round(this.#clock.now() - started)} ms`);
      } catch (err) {
        const problem = `cannot freeze ${describe(m)}: ${(err as Error).message}`;
        problems.push(problem);
        results.push(this.#result(m, 'freeze', started, false, problem));
        this.#log.error(`${problem}; thawing the ${frozen.length} file system(s) frozen before it`);
        const rollback = this.#thawAll(frozen);
        return { ok: false, results: [...results, ...rollback.results], problems: [...problems, ...rollback.problems], held: rollback.held };
      }
    }
    return { ok: true, results, problems, held: frozen };
  }

  async #freezeByHelper(path: string, holding: readonly PlannedMount[], results: MountResult[]): Promise<FsOutcome> {
    const started = this.#clock.now();
    const { helper, result } = await FreezeHelper.freeze(path, holding.map((m) => m.mountpoint));
    const took = this.#clock.now() - started;
    for (const i of result.held) results.push(this.#result(holding[i] as PlannedMount, 'freeze', started, true));
    if (result.ok) {
      this.#helper = helper;
      this.#log.info(`froze ${holding.map(describe).join(', ')} through ${path} (pid ${helper.pid}) in ${Math.round(took)} ms`);
      void helper.exited.then((exit) => {
        // thaw() lets go of it first: only a death while it holds counts.
        if (this.#helper === helper) this.#helperDied(helper, holding, exit.signal ? `was killed by ${exit.signal}` : `exited with status ${exit.code}`);
      });
      return { ok: true, results, problems: [], held: [...holding] };
    }
    const failedMount = result.failed ? holding[result.failed.index] : undefined;
    const problem = failedMount
      ? `cannot freeze ${describe(failedMount)}: ${result.failed?.code} (${result.failed?.text ?? ''}); the helper thawed the ones before it`
      : `the suspension helper ${path} ${result.exit}`;
    if (failedMount) results.push(this.#result(failedMount, 'freeze', started, false, problem));
    this.#log.error(problem);
    // What the helper still holds after failing (a thaw of its own failed): thaw it from here on Linux.
    const still = result.held.map((i) => holding[i] as PlannedMount);
    const rollback = this.os === 'linux' ? this.#thawAll(still) : { ok: true, results: [], problems: [], held: [] };
    return { ok: false, results: [...results, ...rollback.results], problems: [problem, ...rollback.problems], held: rollback.held };
  }

  /**
   * The helper died holding the mounts. On FreeBSD they resumed with it (its descriptors closed):
   * what the host snapshots now is not frozen any more, so the freeze is broken and the owner is
   * told to thaw the rest. On Linux they stay frozen until the thaw, which thaws them from here.
   */
  #helperDied(helper: FreezeHelper, holding: readonly PlannedMount[], how: string): void {
    const what = `the suspension helper (pid ${helper.pid}) ${how} while it held ${holding.map(describe).join(', ')}`;
    if (this.os === 'linux') {
      this.#log.warn(`${what}: they stay frozen until the thaw, which thaws them from here`);
      return;
    }
    const why = `${what}: they were resumed when it died, so the snapshot may not be consistent`;
    this.#log.error(`BROKEN FREEZE: ${why}`);
    this.#onHelperLost?.(why);
  }

  /** Thaws held mounts in the reverse of their freeze order, every one even if one fails. */
  async thaw(held: readonly PlannedMount[]): Promise<FsOutcome> {
    // Remounted first at freeze, so read-write again last.
    const remounted = held.filter((m) => m.action === 'remount-ro');
    const first = await this.#thawHolding(held.filter((m) => m.action !== 'remount-ro'));
    if (remounted.length === 0) return first;
    const last = this.#thawAll(remounted);
    return { ok: first.ok && last.ok, results: [...first.results, ...last.results], problems: [...first.problems, ...last.problems], held: [...last.held, ...first.held] };
  }

  async #thawHolding(held: readonly PlannedMount[]): Promise<FsOutcome> {
    const helper = this.#helper;
    if (!helper) return this.#thawAll(held);
    this.#helper = undefined;
    const { failed, exit } = await helper.thaw();
    const problems = failed.map((f) => `cannot thaw ${held[f.index]?.mountpoint ?? `mount ${f.index + 1}`}: ${f.code} (${f.text ?? ''})`);
    if (exit !== undefined) {
      // Dead before it said "done": Linux keeps its mounts frozen, so they are thawed from here.
      if (this.os === 'linux') {
        this.#log.warn(`the suspension helper ${exit} before it had thawed: thawing from here`);
        return this.#thawAll(held);
      }
      // FreeBSD resumed them when it died, maybe long before this thaw: the freeze did not hold.
      const problem =
        `the suspension helper (pid ${helper.pid}) ended (${exit}) before the thaw, while it held ${held.map(describe).join(', ')}: ` +
        'they were resumed when it died, so the snapshot may not be consistent';
      this.#log.error(problem);
      const results = held.map((m) => ({ ...pick(m), op: 'thaw' as const, ok: true, durationMs: 0, note: 'resumed when its helper died' }));
      return { ok: false, results, problems: [problem], held: [] };
    }
    for (const p of problems) this.#log.error(p);
    const results = held.map((m) => ({ ...pick(m), op: 'thaw' as const, ok: !failed.some((f) => held[f.index] === m), durationMs: 0 }));
    if (problems.length === 0) this.#log.info(`thawed ${held.map(describe).join(', ')}`);
    return { ok: problems.length === 0, results, problems, held: this.os === 'linux' ? held.filter((_m, i) => failed.some((f) => f.index === i)) : [] };
  }

  #thawAll(held: readonly PlannedMount[]): FsOutcome {
    return thawMounts(held, this.#ops, this.#clock, this.#log, this.os);
  }

  #result(m: PlannedMount, op: 'freeze' | 'thaw', started: number, ok: boolean, error?: string): MountResult {
    return { mountpoint: m.mountpoint, fstype: m.fstype, action: m.action, op, ok, durationMs: this.#clock.now() - started, ...(error ? { error } : {}) };
  }
}

/** The flush of a mount that is not held: the mount only on Linux, everything on FreeBSD (sync(8) has no -f). */
function flush(ops: MountOps, os: MountTableOs, mountpoint: string, timeoutMs: number): Promise<void> {
  return os === 'linux' ? ops.run('sync', ['-f', mountpoint], timeoutMs) : ops.run('sync', [], timeoutMs);
}

/**
 * Read-write again, if it still is what was remounted and is read-only now: a mount that is gone,
 * of another type, or read-write already is not touched. Returns a note, or nothing.
 */
function remountReadWrite(m: RecordedMount, ops: MountOps, log: Logger, reason: string): string | undefined {
  if (!ops.liveMount || !ops.remountReadWrite) throw new Error('remounting is not available to this fs stage');
  const live = ops.liveMount(m.mountpoint);
  if (!live) {
    log.warn(`${describe(m)} is no longer mounted: nothing to remount read-write${reason}`);
    return 'no longer mounted';
  }
  if (live.fstype !== m.fstype) {
    log.warn(`${m.mountpoint} was remounted read-only as ${m.fstype} and is now ${live.fstype}: not touched${reason}`);
    return `now ${live.fstype}: not touched`;
  }
  if (!live.readOnly) {
    log.info(`${describe(m)} is read-write already${reason}`);
    return 'read-write already';
  }
  ops.remountReadWrite(live);
  log.info(`remounted ${describe(m)} read-write${reason}`);
  return undefined;
}

function thawMounts(held: readonly RecordedMount[], ops: MountOps, clock: Clock, log: Logger, os: MountTableOs, reason = ''): FsOutcome {
  const results: MountResult[] = [];
  const problems: string[] = [];
  const still: RecordedMount[] = [];
  for (const m of [...held].reverse()) {
    const started = clock.now();
    try {
      if (m.action === 'suspend') {
        // Only its helper can hold a UFS suspension, and its death (or end of stdin) resumes it.
        results.push({ ...pick(m), op: 'thaw', ok: true, durationMs: 0, note: 'resumed when its helper ended' });
        log.info(`${describe(m)}: resumed when the suspension helper ended${reason}`);
        continue;
      }
      if (m.action === 'remount-ro') {
        const note = remountReadWrite(m, ops, log, reason);
        results.push({ ...pick(m), op: 'thaw', ok: true, durationMs: clock.now() - started, ...(note ? { note } : {}) });
        continue;
      }
      if (m.action !== 'fifreeze') throw new Error(`"${m.action}" is not built yet`);
      const wasFrozen = ops.fithaw(m.mountpoint);
      results.push({ ...pick(m), op: 'thaw', ok: true, durationMs: clock.now() - started, ...(wasFrozen ? {} : { note: 'was not frozen' }) });
      log.info(`thawed ${describe(m)}${reason}${wasFrozen ? '' : ': it was not frozen'}`);
    } catch (err) {
      const byHand = m.action === 'remount-ro' ? (os === 'freebsd' ? `mount -u -o rw ${m.mountpoint}` : `mount -o remount,rw ${m.mountpoint}`) : `fsfreeze -u ${m.mountpoint}`;
      const problem = `cannot ${m.action === 'remount-ro' ? 'remount' : 'thaw'} ${describe(m)}${m.action === 'remount-ro' ? ' read-write' : ''}: ${(err as Error).message}; do it by hand with "${byHand}"`;
      problems.push(problem);
      still.unshift(m);
      results.push({ ...pick(m), op: 'thaw', ok: false, durationMs: clock.now() - started, error: problem });
      log.error(problem);
    }
  }
  return { ok: problems.length === 0, results, problems, held: still as PlannedMount[] };
}

const pick = (m: RecordedMount) => ({ mountpoint: m.mountpoint, fstype: m.fstype, action: m.action });

/**
 * Recovery: thaws what a dead holder's journal names, before the thaw hooks. Each recorded mount
 * is judged again against the live mount table by the same rules: thawed only if that path is
 * still mounted with the same type and the rules still say the same action. Anything else is
 * reported (a mount that is gone has nothing frozen left to thaw).
 */
export async function recoverMounts(
  recorded: readonly RecordedMount[],
  deps: { readonly log: Logger; readonly clock: Clock; readonly os?: MountTableOs; readonly ops?: MountOps; readonly readTable?: () => Promise<MountEntry[]> },
): Promise<FsOutcome> {
  const os = deps.os ?? mountTableOs();
  let entries: MountEntry[];
  try {
    entries = await (deps.readTable ?? (() => readMountTable(os)))();
  } catch (err) {
    const problem = `cannot thaw the ${recorded.length} file system(s) the freeze journal names: ${(err as Error).message}`;
    deps.log.error(problem);
    return { ok: false, results: [], problems: [problem], held: recorded as PlannedMount[] };
  }
  // Only the recorded paths, as the fs role planned them: the plan of an --fs-include of each.
  const plan = planMounts(entries, os, { include: recorded.map((m) => m.mountpoint) });
  const thawable: RecordedMount[] = [];
  for (const m of recorded) {
    const now = plan.mounts.filter((p) => p.mountpoint === m.mountpoint).at(-1);
    // Read-only now, so the plan says skip: the remount's own checks (same type, read-only) judge it.
    if (m.action === 'remount-ro') thawable.push(m);
    else if (!now) deps.log.warn(`the freeze journal names ${describe(m)}, which is no longer mounted: nothing to thaw there`);
    else if (now.fstype !== m.fstype || now.action !== m.action) {
      deps.log.warn(`the freeze journal names ${describe(m)} (${m.action}); ${m.mountpoint} is now ${now.fstype} (${now.action}): not touched`);
    } else thawable.push(m);
  }
  const ops = deps.ops ?? (await loadedMountOps());
  return thawMounts(thawable, ops, deps.clock, deps.log, os, ' (recovery)');
}
