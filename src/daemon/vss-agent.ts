// VssAgent: the daemon's logic, with no oclif and no syscalls of its own. It reads requests from
// a device, runs the hooks engine, answers inside the kernel's limit, and guarantees that
// whatever it froze gets thawed: on failure (rollback), on a late answer, when the host never
// sends THAW (watchdog), after a crash (recovery from the journal) and on shutdown.
import { opName } from '../protocol/hv-vss.ts';
import type { AnswerReceipt, RequestChannel, VssRequest } from '../native/vss-device.ts';
import type { AgentLogger } from '../log/logger.ts';
import type { Clock, Timer } from '../util/clock.ts';
import type { FrozenHook, HookReason, HookResult, SequenceResult } from '../hooks/index.ts';
import type { FreezeJournal, FrozenRecord } from './freeze-journal.ts';
import type { HookEngine } from './hook-engine.ts';
import { describeHolder, type Claim } from './hooks-lock.ts';

/**
 * The hooks lock shared with the operator commands (HooksLock; a fake in unit tests). The agent
 * holds it for each CHECK and from a FREEZE until its thaw, and refuses host requests while a
 * manual run holds it: a host snapshot must never mix with a manual freeze.
 */
export interface HooksGuard {
  readonly path: string;
  readonly held: boolean;
  tryAcquire(what: { op: string; thawsBy?: string; since?: string }): Claim;
  describe(what: { op: string; thawsBy?: string }): void;
  release(): void;
}

export interface AgentSettings {
  /** The agent answers every request within this long after reading it (< the kernel's limit). */
  readonly requestTimeoutMs: number;
  /** After a successful freeze, thaw by itself if no THAW arrives within this long. */
  readonly maxFrozenMs: number;
}

export type AgentPhase = 'starting' | 'idle' | 'checking' | 'freezing' | 'frozen' | 'thawing' | 'stopping';

export interface TransactionRecord {
  readonly op: string;
  readonly msgid: string;
  /** host for requests from the kernel; watchdog, recovery, shutdown, rollback for the agent's own thaws. */
  readonly reason: HookReason;
  readonly startedAt: string;
  durationMs: number;
  result: 'success' | 'fail';
  answer?: { status: 'success' | 'fail'; elapsedMs: number; late: boolean };
  hooks: HookResult[];
  problems: string[];
}

export interface AgentStatus {
  readonly phase: AgentPhase;
  readonly current: { readonly op: string; readonly msgid: string; readonly since: string } | undefined;
  readonly frozen: { readonly since: string; readonly msgid: string; readonly hooks: readonly string[]; readonly watchdogAt: string } | undefined;
  readonly transactions: readonly TransactionRecord[];
  /** Every transaction since the daemon started, counted by op, reason and result (for monitoring). */
  readonly counters: readonly TransactionCount[];
  /** Answers that left after the kernel's limit, since the daemon started. */
  readonly lateAnswers: number;
}

export interface TransactionCount {
  readonly op: string;
  readonly reason: HookReason;
  readonly result: 'success' | 'fail';
  readonly count: number;
}

interface FrozenState {
  readonly hooks: readonly FrozenHook[];
  readonly since: Date;
  readonly msgid: string;
  readonly watchdog: Timer;
  readonly watchdogAt: Date;
}

const HISTORY = 20;

export class VssAgent {
  #device: RequestChannel | undefined;
  readonly #hooks: HookEngine;
  readonly #journal: FreezeJournal;
  readonly #clock: Clock;
  readonly #log: AgentLogger;
  readonly #settings: AgentSettings;
  readonly #bornAt: string;
  #phase: AgentPhase = 'starting';
  #current: AgentStatus['current'];
  #frozen: FrozenState | undefined;
  readonly #history: TransactionRecord[] = [];
  readonly #counters = new Map<string, TransactionCount>();
  #lateAnswers = 0;
  /** Monotonic start of each transaction, for its duration. */
  readonly #startedAt = new WeakMap<TransactionRecord, number>();
  /** Every operation runs under this chain: requests, watchdog and shutdown never interleave. */
  #queue: Promise<unknown> = Promise.resolve();
  /**
   * A thaw the agent runs on its own after answering (rollback of a failed or late freeze,
   * watchdog). Requests keep being read meanwhile and are answered at once: the kernel's clock
   * for the next request is already running.
   */
  #background: { readonly what: string; readonly done: Promise<void> } | undefined;

  readonly #guard: HooksGuard | undefined;

  constructor(deps: { hooks: HookEngine; journal: FreezeJournal; clock: Clock; log: AgentLogger; settings: AgentSettings; guard?: HooksGuard }) {
    this.#guard = deps.guard;
    this.#hooks = deps.hooks;
    this.#journal = deps.journal;
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.#settings = deps.settings;
    this.#bornAt = deps.clock.wallNow().toISOString();
  }

  status(): AgentStatus {
    const frozen = this.#frozen;
    return {
      phase: this.#phase,
      current: this.#current,
      frozen: frozen && {
        since: frozen.since.toISOString(),
        msgid: frozen.msgid,
        hooks: frozen.hooks.map((h) => h.hook.name),
        watchdogAt: frozen.watchdogAt.toISOString(),
      },
      transactions: this.#history,
      counters: [...this.#counters.values()],
      lateAnswers: this.#lateAnswers,
    };
  }

  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Before registering: thaws hooks that a previous run recorded as frozen (it crashed or was
   * killed while frozen). Runs the thaw even if the hooks directory changed since.
   */
  async recover(record: FrozenRecord | undefined): Promise<void> {
    if (!record) return;
    // A manual freeze's holder (its keeper, or hvvss freeze -- CMD) holds the hooks lock for as
    // long as it lives: busy means the holder is alive and will thaw its own freeze.
    const claim = this.#tryClaim('recovery');
    if (!claim.ok) {
      this.#log.warn(
        `the freeze journal records a freeze since ${record.since} by ${record.holder.kind} pid ${record.holder.pid}, and its holder is alive ` +
          `(${claim.why}): leaving it to that holder, not thawing it here`,
      );
      return;
    }
    this.#log.warn(
      `the freeze journal says ${record.hooks.length} hook(s) have been frozen since ${record.since} ` +
        `(by ${record.holder.kind} pid ${record.holder.pid}, msgid ${record.msgid || '-'}): thawing them before registering`,
    );
    await this.#exclusive(async () => {
      try {
        await this.#thawRecord(record, undefined);
      } finally {
        this.#releaseIfIdle();
      }
    });
  }

  async #thawRecord(record: FrozenRecord, deadline: number | undefined): Promise<boolean> {
    const hooks = record.hooks.map((hook) => ({ hook }));
    return this.#runThaw(hooks, 'recovery', record.msgid, deadline);
  }

  /**
   * Takes the hooks lock, describing it as `op` since the daemon started; when someone else has
   * it, says who in `why`. A fixed text per kind of work means the lock file is only rewritten
   * after a freeze or a manual run changed it.
   */
  #tryClaim(op: 'host request' | 'recovery'): { ok: true } | { ok: false; why: string } {
    if (!this.#guard) return { ok: true };
    try {
      const claim = this.#guard.tryAcquire({ op, since: this.#bornAt });
      return claim.ok ? claim : { ok: false, why: describeHolder(claim.holder, this.#guard.path) };
    } catch (err) {
      return { ok: false, why: `cannot take the hooks lock ${this.#guard.path} (${(err as Error).message}); check the --state-dir directory` };
    }
  }

  #releaseIfIdle(): void {
    if (!this.#frozen) this.#guard?.release();
  }

  /**
   * Before a host CHECK/FREEZE, with the lock held: a journal record now can only be a freeze
   * whose holder died while frozen (a manual keeper killed with SIGKILL): thaw it first, as a
   * start-up would.
   */
  async #thawAbandoned(deadline: number): Promise<void> {
    if (this.#frozen) return;
    let record: FrozenRecord | undefined;
    try {
      record = await this.#journal.read();
    } catch (err) {
      this.#log.error(`cannot read the freeze journal: ${(err as Error).message}`);
      return;
    }
    if (!record) return;
    this.#log.warn(
      `the freeze journal records ${record.hooks.length} hook(s) frozen since ${record.since} by ${record.holder.kind} pid ${record.holder.pid}, ` +
        'which is gone: thawing them first',
    );
    await this.#thawRecord(record, deadline);
  }

  /** Answers failure when the hooks lock is taken by an operator command (or cannot be taken). */
  #refuseIfBusy(request: VssRequest, op: 'check' | 'freeze'): boolean {
    const claim = this.#tryClaim('host request');
    if (claim.ok) return false;
    const record = this.#begin(op, request.msgidText, 'host');
    const problem = `refused: ${claim.why}`;
    record.problems.push(problem);
    this.#log.error(
      `${op.toUpperCase()} (msgid ${request.msgidText}) ${problem}; answering failure, so the host fails this backup instead of mixing it with that run. ` +
        'End the manual freeze with "hvvss thaw" and the next backup will work.',
    );
    this.#answer(request, 'fail', record);
    this.#end(record, 'fail');
    return true;
  }

  /** Serves the device's requests until it is closed. */
  async run(device: RequestChannel): Promise<void> {
    this.#device = device;
    this.#phase = 'idle';
    this.#log.info(`registered on ${device.path}; hooks in ${this.#hooks.dir}`);
    for (;;) {
      const request = await device.nextRequest();
      if (!request) {
        // Closed: let a thaw already under way finish before returning.
        await this.#background?.done;
        return;
      }
      const busy = this.#background;
      if (busy) await this.#answerWhileBusy(request, busy);
      else await this.#exclusive(() => this.#handle(request));
    }
  }

  /** Queues `task` after the current operation, without making the request loop wait for it. */
  #inBackground(what: string, task: () => Promise<unknown>): void {
    const done: Promise<void> = this.#exclusive(task)
      .then(
        () => undefined,
        (err: unknown) => this.#log.error(`${what} failed: ${err instanceof Error ? err.message : String(err)}`),
      )
      .finally(() => {
        if (this.#background?.done === done) this.#background = undefined;
      });
    this.#background = { what, done };
  }

  /**
   * A request read while the agent thaws on its own. A THAW waits for that thaw (within its
   * deadline), then is handled as usual; anything else is answered failure at once, so the
   * host learns it now rather than at the kernel's timeout, and can retry.
   */
  async #answerWhileBusy(request: VssRequest, busy: { readonly what: string; readonly done: Promise<void> }): Promise<void> {
    const name = opName(request.opt);
    this.#log.info(`received ${name} (msgid ${request.msgidText}) while ${busy.what}`);
    if (request.op === 'thaw' && (await this.#settlesWithin(busy.done, this.#deadline(request) - this.#clock.now()))) {
      return this.#exclusive(() => this.#handle(request));
    }
    const record = this.#begin(name, request.msgidText, 'host');
    const problem = `answered failure at once: the agent is busy ${busy.what}`;
    record.problems.push(problem);
    this.#log.warn(`${name.toUpperCase()} (msgid ${request.msgidText}) ${problem}; the host can retry once it is done`);
    this.#answer(request, 'fail', record);
    this.#end(record, 'fail');
  }

  #settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = this.#clock.setTimer(Math.max(0, ms), () => resolve(false));
      void promise.then(() => {
        timer.cancel();
        resolve(true);
      });
    });
  }

  /** Thaws whatever is frozen (SIGTERM/SIGINT); call after the device was closed. */
  async shutdown(): Promise<void> {
    await this.#exclusive(async () => {
      this.#phase = 'stopping';
      const frozen = this.#frozen;
      if (frozen) {
        this.#log.warn(`stopping while frozen since ${frozen.since.toISOString()}: thawing first`);
        await this.#thawFrozen('shutdown', undefined);
      }
    });
  }

  async #handle(request: VssRequest): Promise<void> {
    const name = opName(request.opt);
    // The answer line names the op and msgid again: one info line per request keeps both the log
    // and the request path short (each line is a write on the way to the answer).
    this.#log.debug(`received ${name} (msgid ${request.msgidText})`);
    if (request.malformed) this.#log.warn(`malformed ${name} request (msgid ${request.msgidText}): ${request.malformed}; handling it anyway`);
    this.#current = { op: name, msgid: request.msgidText, since: request.readAtWall.toISOString() };
    try {
      switch (request.op) {
        case 'check':
          return await this.#check(request);
        case 'freeze':
          return await this.#freeze(request);
        case 'thaw':
          return await this.#hostThaw(request);
        default: {
          this.#log.error(`unknown operation ${request.opt} from the kernel (msgid ${request.msgidText}): answering failure`);
          const record = this.#begin(name, request.msgidText, 'host');
          this.#answer(request, 'fail', record);
          this.#end(record, 'fail');
        }
      }
    } finally {
      this.#current = undefined;
      if (this.#phase !== 'stopping') this.#phase = this.#frozen ? 'frozen' : 'idle';
    }
  }

  #deadline(request: VssRequest): number {
    return request.readAt + this.#settings.requestTimeoutMs;
  }

  async #check(request: VssRequest): Promise<void> {
    if (this.#refuseIfBusy(request, 'check')) return;
    try {
      this.#phase = 'checking';
      await this.#thawAbandoned(this.#deadline(request));
      const record = this.#begin('check', request.msgidText, 'host');
      const scan = await this.#hooks.scan();
      const result = await this.#hooks.check(scan, { reason: 'host', msgid: request.msgidText, deadline: this.#deadline(request) });
      this.#collect(record, result);
      const status = result.ok ? 'success' : 'fail';
      this.#answer(request, status, record);
      this.#end(record, status);
    } finally {
      this.#releaseIfIdle();
    }
  }

  async #freeze(request: VssRequest): Promise<void> {
    if (this.#frozen) {
      // The host retries after a failed backup without sending THAW: start from a clean state.
      this.#log.warn(`FREEZE while already frozen since ${this.#frozen.since.toISOString()}: thawing the previous freeze first`);
      await this.#thawFrozen('rollback', this.#deadline(request));
    }
    if (this.#refuseIfBusy(request, 'freeze')) return;
    try {
      await this.#freezeHeld(request);
    } finally {
      this.#releaseIfIdle();
    }
  }

  /** FREEZE with the hooks lock held; keeps it when it ends frozen. */
  async #freezeHeld(request: VssRequest): Promise<void> {
    this.#phase = 'freezing';
    await this.#thawAbandoned(this.#deadline(request));
    const record = this.#begin('freeze', request.msgidText, 'host');
    const deadline = this.#deadline(request);
    const scan = await this.#hooks.scan();
    const result = await this.#hooks.freeze(scan, {
      reason: 'host',
      msgid: request.msgidText,
      deadline,
      onBrokenFreeze: (event) =>
        this.#log.error(`BROKEN FREEZE: resident hook ${event.hook} (pid ${event.pid}) ended while frozen (${event.signal ?? `exit ${event.exitCode}`}); the thaw will report failure`),
    });
    this.#collect(record, result);
    const rollback = async (why: string) => {
      this.#log.error(`freeze failed (${why}): answering failure and rolling back ${result.frozen.length} hook(s)`);
      this.#answer(request, 'fail', record);
      this.#end(record, 'fail');
      // The started hooks count as frozen (and keep the hooks lock) until the rollback is done.
      const now = this.#clock.wallNow();
      this.#frozen = { hooks: result.frozen, since: now, msgid: request.msgidText, watchdog: { cancel: () => {} }, watchdogAt: now };
      this.#inBackground('rolling back a failed freeze', () => this.#thawFrozen('rollback', undefined));
    };
    if (!result.ok) return rollback(result.problems[0] ?? 'a hook failed');
    const elapsed = this.#clock.now() - request.readAt;
    if (this.#clock.now() >= deadline) return rollback(`done ${Math.round(elapsed)} ms after the read, past the ${this.#settings.requestTimeoutMs} ms deadline`);

    const since = this.#clock.wallNow();
    try {
      // Nothing frozen (no hooks), nothing to recover after a crash: no durable write.
      if (result.frozen.length > 0) await this.#journal.recordFrozen({
        since: since.toISOString(),
        reason: 'host',
        msgid: request.msgidText,
        holder: { pid: process.pid, kind: 'daemon' },
        hooksDir: this.#hooks.dir,
        hooks: result.frozen.map((f) => f.hook),
      });
    } catch (err) {
      return rollback(`cannot record the freeze in ${this.#journal.path}: ${(err as Error).message}`);
    }
    const watchdogAt = new Date(since.getTime() + this.#settings.maxFrozenMs);
    const watchdog = this.#clock.setTimer(this.#settings.maxFrozenMs, () => this.#watchdog(request.msgidText), { unref: true });
    this.#frozen = { hooks: result.frozen, since, msgid: request.msgidText, watchdog, watchdogAt };
    this.#phase = 'frozen';
    this.#guard?.describe({ op: 'frozen', thawsBy: watchdogAt.toISOString() });
    // From here until the thaw the file systems may be suspended: keep log lines in memory.
    this.#log.hold();
    const receipt = this.#answer(request, 'success', record);
    this.#end(record, 'success');
    if (receipt.late) {
      this.#log.flush();
      this.#log.error(
        `the FREEZE success for msgid ${request.msgidText} went out ${Math.round(receipt.elapsedMs)} ms after the read, past the kernel's ` +
          `${this.#kernelTimeoutMs()} ms limit: the host has failed this backup and may never send THAW. Thawing now.`,
      );
      this.#inBackground('thawing a freeze answered too late', () => this.#thawFrozen('rollback', undefined));
    }
  }

  async #hostThaw(request: VssRequest): Promise<void> {
    const frozen = this.#frozen;
    if (!frozen) {
      const record = this.#begin('thaw', request.msgidText, 'host');
      this.#log.info(`THAW with nothing frozen (msgid ${request.msgidText}): answering success`);
      this.#answer(request, 'success', record);
      this.#end(record, 'success');
      return;
    }
    await this.#thawFrozen('host', this.#deadline(request), request);
  }

  #watchdog(msgid: string): void {
    this.#inBackground('thawing on the watchdog', async () => {
      if (!this.#frozen || this.#frozen.msgid !== msgid) return;
      this.#log.flush();
      this.#log.error(
        `WATCHDOG: frozen since ${this.#frozen.since.toISOString()} and no THAW within ${this.#settings.maxFrozenMs / 1000} s: thawing now`,
      );
      await this.#thawFrozen('watchdog', undefined);
    });
  }

  /** Thaws the current freeze; answers `request` (a host THAW) when given. */
  async #thawFrozen(reason: HookReason, deadline: number | undefined, request?: VssRequest): Promise<boolean> {
    const frozen = this.#frozen;
    if (!frozen) return true;
    frozen.watchdog.cancel();
    this.#phase = 'thawing';
    const result = await this.#runThaw(frozen.hooks, reason, request?.msgidText ?? frozen.msgid, deadline, request);
    this.#frozen = undefined;
    this.#guard?.release();
    return result;
  }

  async #runThaw(hooks: readonly FrozenHook[], reason: HookReason, msgid: string, deadline: number | undefined, request?: VssRequest): Promise<boolean> {
    this.#phase = 'thawing';
    const record = this.#begin('thaw', msgid, reason);
    const result = await this.#hooks.thaw(hooks, { reason, msgid, ...(deadline === undefined ? {} : { deadline }) });
    this.#collect(record, result);
    const status = result.ok ? 'success' : 'fail';
    if (request) this.#answer(request, status, record);
    // The file systems are thawed (the kernel thaws them before telling the app): write again.
    this.#log.flush();
    this.#end(record, status);
    try {
      // A record exists when hooks were frozen, and always when recovering from one.
      if (hooks.length > 0 || reason === 'recovery') await this.#journal.clear({ at: this.#clock.wallNow().toISOString(), reason, ok: result.ok });
    } catch (err) {
      this.#log.error(`cannot clear the freeze journal ${this.#journal.path}: ${(err as Error).message}; the next start will thaw again (thaw hooks are idempotent)`);
    }
    return result.ok;
  }

  #begin(op: string, msgid: string, reason: HookReason): TransactionRecord {
    const record: TransactionRecord = { op, msgid, reason, startedAt: this.#clock.wallNow().toISOString(), durationMs: 0, result: 'fail', hooks: [], problems: [] };
    this.#startedAt.set(record, this.#clock.now());
    this.#history.unshift(record);
    if (this.#history.length > HISTORY) this.#history.length = HISTORY;
    return record;
  }

  #collect(record: TransactionRecord, result: SequenceResult): void {
    record.hooks.push(...result.results);
    record.problems.push(...result.problems);
  }

  #end(record: TransactionRecord, result: 'success' | 'fail'): void {
    record.result = result;
    const key = `${record.op}\0${record.reason}\0${result}`;
    const count = this.#counters.get(key);
    this.#counters.set(key, { op: record.op, reason: record.reason, result, count: (count?.count ?? 0) + 1 });
    record.durationMs = Math.round(this.#clock.now() - (this.#startedAt.get(record) ?? this.#clock.now()));
    // A host request's answer line already said it; the agent's own work (rollback, watchdog, ...) gets its summary here.
    this.#log.log(record.answer && record.reason === 'host' ? 'debug' : 'info', `${record.op} (${record.reason}, msgid ${record.msgid || '-'}): ${result} in ${record.durationMs} ms`);
  }

  #kernelTimeoutMs(): number {
    return this.#device?.kernelTimeoutMs ?? 0;
  }

  #answer(request: VssRequest, status: 'success' | 'fail', record: TransactionRecord): AnswerReceipt {
    if (!this.#device) throw new Error('VssAgent: answering with no device');
    const receipt = this.#device.answer(request, status);
    record.answer = { status, elapsedMs: Math.round(receipt.elapsedMs), late: receipt.late };
    if (receipt.late) this.#lateAnswers += 1;
    const line = `answered ${status} to ${opName(request.opt)} (msgid ${request.msgidText}) ${Math.round(receipt.elapsedMs)} ms after reading it`;
    if (receipt.late) this.#log.error(`${line}: LATE, past the kernel's ${this.#kernelTimeoutMs()} ms limit, so the kernel ignored it`);
    else this.#log.info(line);
    return receipt;
  }
}
