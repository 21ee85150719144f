// VssAgent: the daemon's logic, with no oclif and no syscalls of its own. It reads requests from
// a device, has the FreezeEngine run the hooks, answers every request inside its deadline, and
// guarantees that whatever it froze gets thawed: on failure (rollback), on a late or undelivered
// answer, when the host never sends THAW (watchdog), on stop (SIGTERM, SIGINT, SIGHUP, device
// loss, a crash of its own code) and, after SIGKILL, at the next start (recovery from the
// write-ahead journal).
import { opName } from '../protocol/hv-vss.ts';
import type { AnswerReceipt, RequestChannel, VssRequest } from '../native/vss-device.ts';
import type { AgentLogger } from '../log/logger.ts';
import type { Clock } from '../util/clock.ts';
import type { HookReason } from '../hooks/index.ts';
import type { FrozenRecord } from '../state/freeze-journal.ts';
import type { FreezeEngine } from '../engine/freeze-engine.ts';
import { describeHolder, type Claim } from '../state/hooks-lock.ts';
import { TransactionHistory, type StageResults, type TransactionCount, type TransactionRecord } from './transaction-history.ts';

export type { TransactionCount, TransactionRecord } from './transaction-history.ts';

/**
 * The hooks lock shared with the operator commands (HooksLock; a fake in unit tests). The agent
 * holds it for each CHECK and from a FREEZE until its thaw, and refuses host requests while a
 * manual run holds it: a host snapshot must never mix with a manual freeze.
 */
export interface HooksGuard {
  readonly path: string;
  readonly held: boolean;
  tryAcquire(what: { op: string; thawsBy?: string; since?: string }, options?: { readonly describe?: boolean }): Claim;
  describe(what: { op: string; thawsBy?: string; since?: string }): void;
  release(): void;
}

export interface AgentSettings {
  /** The agent answers every request within this long after reading it (< the kernel's limit). */
  readonly requestTimeoutMs: number;
  /** After a successful freeze, thaw by itself if no THAW arrives within this long. */
  readonly maxFrozenMs: number;
}

export type AgentPhase = 'starting' | 'idle' | 'checking' | 'freezing' | 'frozen' | 'thawing' | 'stopping';

export interface AgentStatus {
  readonly phase: AgentPhase;
  readonly current: { readonly op: string; readonly msgid: string; readonly since: string } | undefined;
  readonly frozen:
    | {
        readonly since: string;
        readonly reason: HookReason;
        readonly msgid: string;
        readonly hooks: readonly string[];
        /** File systems the fs role holds frozen (mount points). */
        readonly mounts?: readonly string[];
        readonly watchdogAt: string;
      }
    | undefined;
  readonly transactions: readonly TransactionRecord[];
  /** Every transaction since the daemon started, counted by op, reason and result (for monitoring). */
  readonly counters: readonly TransactionCount[];
  /** Answers that left after the kernel's limit, since the daemon started. */
  readonly lateAnswers: number;
}

/** What #answer tells: the kernel's receipt, and whether the write itself worked. */
type Delivery = AnswerReceipt & { readonly delivered: boolean };

/** A thaw under way: its transaction record, and whether it succeeded once done. */
interface Thawing {
  readonly record: TransactionRecord;
  readonly done: Promise<boolean>;
}

export class VssAgent {
  #device: RequestChannel | undefined;
  readonly #engine: FreezeEngine;
  readonly #clock: Clock;
  readonly #log: AgentLogger;
  readonly #settings: AgentSettings;
  readonly #bornAt: string;
  #phase: AgentPhase = 'starting';
  #current: AgentStatus['current'];
  /** The last transactions and the counters; the fs device's FsAgent records into it too. */
  readonly history: TransactionHistory;
  /** Every operation runs under this chain: requests, watchdog and shutdown never interleave. */
  #queue: Promise<unknown> = Promise.resolve();
  /**
   * A thaw the agent runs on its own after answering (rollback of a failed or late freeze,
   * watchdog, thaw hooks still running at a THAW's deadline). Requests keep being read
   * meanwhile and are answered at once: the kernel's clock for the next request is running.
   */
  #background: { readonly what: string; readonly done: Promise<void> } | undefined;
  /** Aborted by stop(): a check or freeze under way is cut short (its hook is terminated) and rolled back. */
  readonly #stop = new AbortController();

  readonly #guard: HooksGuard | undefined;
  /** A host freeze that broke before its THAW (see breakFreeze): that THAW answers failure, saying why. */
  #broken: string | undefined;

  constructor(deps: { engine: FreezeEngine; clock: Clock; log: AgentLogger; settings: AgentSettings; guard?: HooksGuard; history?: TransactionHistory }) {
    this.#guard = deps.guard;
    this.history = deps.history ?? new TransactionHistory(deps.clock, deps.log);
    this.#engine = deps.engine;
    this.#clock = deps.clock;
    this.#log = deps.log;
    this.#settings = deps.settings;
    this.#bornAt = deps.clock.wallNow().toISOString();
  }

  status(): AgentStatus {
    const frozen = this.#engine.frozen;
    return {
      phase: this.#phase,
      current: this.#current,
      frozen: frozen && {
        since: frozen.since.toISOString(),
        reason: frozen.reason,
        msgid: frozen.msgid,
        hooks: frozen.hooks.map((h) => h.hook.name),
        ...(frozen.mounts.length > 0 ? { mounts: frozen.mounts.map((m) => m.mountpoint) } : {}),
        watchdogAt: (frozen.watchdogAt ?? frozen.since).toISOString(),
      },
      transactions: this.history.records,
      counters: this.history.counters,
      lateAnswers: this.history.lateAnswers,
    };
  }

  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Asks the agent to stop: a check or freeze under way ends now (answered failure, rolled
   * back), no new request is read. Returns true when a request is being handled: run() returns
   * once it is answered. Otherwise close the device to wake the pending read. Then await run()
   * and shutdown().
   */
  stop(why: string): boolean {
    if (!this.#stop.signal.aborted) this.#stop.abort(why);
    return this.#current !== undefined;
  }

  /**
   * An operator command run by the daemon (hvvss check/freeze/thaw while it runs): serialized
   * with host requests, on the same engine. `busy` makes the answer when it cannot run now.
   */
  async manual<T>(op: 'check' | 'freeze' | 'thaw', task: () => Promise<T>, busy: (why: string) => T): Promise<T> {
    if (this.#stop.signal.aborted) return busy('the daemon is stopping');
    const background = this.#background;
    if (background) return busy(`the daemon is ${background.what}`);
    return this.#exclusive(async () => {
      if (op !== 'thaw') {
        const frozen = this.#engine.frozen;
        if (frozen) {
          return busy(
            frozen.reason === 'manual'
              ? `a manual freeze held by the daemon since ${frozen.since.toISOString()}; end it with "hvvss thaw"`
              : `a host backup holds the hooks frozen since ${frozen.since.toISOString()} (msgid ${frozen.msgid}); it thaws at the host's THAW or the watchdog`,
          );
        }
        const claim = this.#tryClaim('host request');
        if (!claim.ok) return busy(claim.why);
        // Said before anything is frozen, like a host freeze.
        this.#guard?.describe({ op: `manual ${op}` });
      }
      this.#current = { op: `manual ${op}`, msgid: '', since: this.#clock.wallNow().toISOString() };
      this.#phase = op === 'check' ? 'checking' : op === 'freeze' ? 'freezing' : 'thawing';
      try {
        return await task();
      } finally {
        this.#current = undefined;
        this.#phase = this.#engine.frozen ? 'frozen' : 'idle';
        this.#releaseIfIdle();
      }
    });
  }

  /**
   * Thaws the current freeze in the background if it is still the one that began at `since`:
   * a manual freeze's watchdog or its client gone, or an fs-channel rollback.
   */
  thawLater(since: Date, reason: HookReason, why: string): void {
    this.#inBackground(`thawing (${why})`, async () => {
      const frozen = this.#engine.frozen;
      if (!frozen || frozen.since.getTime() !== since.getTime()) return;
      this.#log.warn(`${frozen.reason === 'manual' ? 'manual freeze' : 'freeze'} since ${frozen.since.toISOString()}: ${why}: thawing now (${reason})`);
      await this.#thawNow(reason, undefined);
    });
  }

  /**
   * The host's freeze that began at `since` broke while frozen (the suspension helper died, and
   * the file systems resumed with it): the rest is thawed now, and the host's THAW, when it
   * comes, answers failure with `why`, since the snapshot may not be consistent.
   */
  breakFreeze(since: Date, why: string): void {
    const frozen = this.#engine.frozen;
    if (frozen?.reason === 'host' && frozen.since.getTime() === since.getTime()) this.#broken = why;
    this.thawLater(since, 'rollback', why);
  }

  /**
   * Before registering: thaws what a previous run recorded in the journal (it was killed while
   * something may have been frozen). A journal that cannot be read does not stop the start: it
   * is kept for the admin and every CHECK fails with the reason until it is resolved.
   */
  async recover(): Promise<void> {
    let record: FrozenRecord | undefined;
    try {
      record = this.#engine.journal.read();
    } catch (err) {
      this.#log.error(`${(err as Error).message}. Until then every host CHECK and FREEZE is answered with failure.`);
      return;
    }
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
      `the freeze journal says ${record.hooks.length} hook(s) may have been frozen since ${record.since} ` +
        `(by ${record.holder.kind} pid ${record.holder.pid}, msgid ${record.msgid || '-'}): thawing them before registering`,
    );
    await this.#exclusive(async () => {
      try {
        await this.#recoverRecord(record, undefined).done;
      } finally {
        this.#releaseIfIdle();
      }
    });
  }

  #recoverRecord(record: FrozenRecord, deadline: number | undefined): Thawing {
    this.#phase = 'thawing';
    const transaction = this.#begin('thaw', record.msgid, 'recovery');
    const done = this.#engine.recover(record, deadline === undefined ? {} : { deadline }).then((result) => {
      this.#collect(transaction, result);
      this.#end(transaction, result.ok ? 'success' : 'fail');
      return result.ok;
    });
    return { record: transaction, done };
  }

  /**
   * Takes the hooks lock, describing it as `op` since the daemon started; when someone else has
   * it, says who in `why`. A fixed text per kind of work means the lock file is only rewritten
   * after a freeze or a manual run changed it.
   */
  #tryClaim(op: 'host request' | 'recovery'): { ok: true } | { ok: false; why: string } {
    if (!this.#guard) return { ok: true };
    try {
      // Not described yet: the journal may name a freeze of a file system holding the lock file.
      const claim = this.#guard.tryAcquire({ op, since: this.#bornAt }, { describe: false });
      return claim.ok ? claim : { ok: false, why: describeHolder(claim.holder, this.#guard.path) };
    } catch (err) {
      return { ok: false, why: `cannot take the hooks lock ${this.#guard.path} (${(err as Error).message}); check the --state-dir directory` };
    }
  }

  #releaseIfIdle(): void {
    if (!this.#engine.frozen) this.#guard?.release();
  }

  /**
   * Before a host CHECK/FREEZE, with the lock held: a journal record now can only be a freeze
   * whose holder died (a manual keeper killed with SIGKILL): thaw it first, as a start-up would.
   * Returns why the request must fail: the journal is unreadable, or that thaw is still running
   * at the deadline (it goes on in the background).
   */
  async #thawAbandoned(request: VssRequest): Promise<string | undefined> {
    if (this.#engine.frozen) return undefined;
    let record: FrozenRecord | undefined;
    try {
      record = this.#engine.journal.read();
    } catch (err) {
      return (err as Error).message;
    }
    if (!record) return undefined;
    this.#log.warn(
      `the freeze journal records ${record.hooks.length} hook(s) frozen since ${record.since} by ${record.holder.kind} pid ${record.holder.pid}, ` +
        'which is gone: thawing them first',
    );
    const deadline = this.#deadline(request);
    const thawing = this.#recoverRecord(record, deadline);
    if (await this.#settlesWithin(thawing.done, deadline - this.#clock.now())) return undefined;
    this.#inBackground('thawing an abandoned freeze', () => thawing.done);
    return 'an abandoned freeze recorded in the journal is still being thawed; the host can retry once it is done';
  }

  /** Answers failure when the hooks lock is taken by an operator command (or cannot be taken). */
  #refuseIfBusy(request: VssRequest, op: 'check' | 'freeze'): boolean {
    const claim = this.#tryClaim('host request');
    if (claim.ok) return false;
    this.#fail(
      request,
      this.#begin(op, request.msgidText, 'host'),
      `refused: ${claim.why}`,
      'so the host fails this backup instead of mixing it with that run. End the manual freeze with "hvvss thaw" and the next backup will work.',
    );
    return true;
  }

  /** Answers failure with `problem` in the record and the log, and ends the transaction. */
  #fail(request: VssRequest, record: TransactionRecord, problem: string, advice = ''): void {
    record.problems.push(problem);
    this.#log.error(`${opName(request.opt).toUpperCase()} (msgid ${request.msgidText}) ${problem}; answering failure${advice ? `, ${advice}` : ''}`);
    this.#answer(request, 'fail', record);
    this.#end(record, 'fail');
  }

  /** Serves the device's requests until it is closed, fails, or stop() is called. */
  async run(device: RequestChannel): Promise<void> {
    this.#device = device;
    this.#phase = 'idle';
    this.#log.info(`registered on ${device.path}; hooks in ${this.#engine.hooks.dir}`);
    try {
      while (!this.#stop.signal.aborted) {
        const request = await device.nextRequest();
        if (!request) return;
        const busy = this.#background;
        if (busy) await this.#answerWhileBusy(request, busy);
        else await this.#exclusive(() => this.#handle(request));
      }
    } finally {
      // Closed, failed or stopping: a thaw under way finishes before run() returns.
      await this.#background?.done;
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

  #settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = this.#clock.setTimer(Math.max(0, ms), () => resolve(false));
      void promise.then(
        () => {
          timer.cancel();
          resolve(true);
        },
        () => {
          timer.cancel();
          resolve(true);
        },
      );
    });
  }

  /** Thaws whatever is frozen (after stop(), a closed device or a crash of our own); safe to call more than once. */
  async shutdown(): Promise<void> {
    void this.stop('shutdown');
    await this.#exclusive(async () => {
      this.#phase = 'stopping';
      const frozen = this.#engine.frozen;
      if (frozen) {
        this.#log.warn(`stopping while frozen since ${frozen.since.toISOString()}: thawing first`);
        await this.#thawNow('shutdown', undefined);
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
      if (this.#stop.signal.aborted && request.op !== 'thaw') {
        return this.#fail(request, this.#begin(name, request.msgidText, 'host'), 'refused: the daemon is stopping');
      }
      switch (request.op) {
        case 'check':
          return await this.#check(request);
        case 'freeze':
          return await this.#freeze(request);
        case 'thaw':
          return await this.#hostThaw(request);
        default:
          return this.#fail(request, this.#begin(name, request.msgidText, 'host'), `is an unknown operation ${request.opt} from the kernel`);
      }
    } finally {
      this.#current = undefined;
      if (this.#phase !== 'stopping') this.#phase = this.#engine.frozen ? 'frozen' : 'idle';
    }
  }

  #deadline(request: VssRequest): number {
    return request.readAt + (request.answerWithinMs ?? this.#settings.requestTimeoutMs);
  }

  /** A manual freeze held by the daemon is not the host's: its CHECK and FREEZE are refused meanwhile. */
  #refuseWhileManual(request: VssRequest, op: 'check' | 'freeze'): boolean {
    const frozen = this.#engine.frozen;
    if (frozen?.reason !== 'manual') return false;
    this.#fail(
      request,
      this.#begin(op, request.msgidText, 'host'),
      `refused: a manual freeze (hvvss freeze) has held the hooks since ${frozen.since.toISOString()}`,
      'so the host fails this backup instead of mixing it with that freeze. End it with "hvvss thaw" and the next backup will work.',
    );
    return true;
  }

  async #check(request: VssRequest): Promise<void> {
    if (this.#refuseWhileManual(request, 'check')) return;
    if (this.#refuseIfBusy(request, 'check')) return;
    try {
      this.#phase = 'checking';
      const problem = await this.#thawAbandoned(request);
      const record = this.#begin('check', request.msgidText, 'host');
      if (problem !== undefined) return this.#fail(request, record, `cannot be application-consistent: ${problem}`);
      this.#guard?.describe({ op: 'host request', since: this.#bornAt });
      // The fs role: a mount that cannot be frozen consistently fails CHECK, naming it; on its own
      // channel the fs device's CHECK (sent after this one succeeds) says so, as hv_vss_daemon would.
      const fsProblems = this.#engine.fsChannel ? [] : await this.#engine.checkFs();
      if (fsProblems.length > 0) return this.#fail(request, record, `cannot be consistent: ${fsProblems.join('; ')}`);
      const scan = await this.#engine.hooks.scan();
      const result = await this.#engine.hooks.check(scan, { reason: 'host', msgid: request.msgidText, deadline: this.#deadline(request), signal: this.#stop.signal });
      this.#collect(record, result);
      const status = result.ok ? 'success' : 'fail';
      this.#answer(request, status, record);
      this.#end(record, status);
    } finally {
      this.#releaseIfIdle();
    }
  }

  async #freeze(request: VssRequest): Promise<void> {
    if (this.#refuseWhileManual(request, 'freeze')) return;
    const previous = this.#engine.frozen;
    if (previous) {
      // The host retries after a failed backup without sending THAW: start from a clean state.
      this.#log.warn(`FREEZE while already frozen since ${previous.since.toISOString()}: thawing the previous freeze first`);
      await this.#thawNow('rollback', this.#deadline(request));
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
    this.#broken = undefined;
    const problem = await this.#thawAbandoned(request);
    const record = this.#begin('freeze', request.msgidText, 'host');
    if (problem !== undefined) return this.#fail(request, record, `cannot freeze: ${problem}`);
    const deadline = this.#deadline(request);
    // Said before anything is frozen: nothing is written from the first freeze hook to the last thaw.
    this.#guard?.describe({ op: 'frozen', thawsBy: new Date(this.#clock.wallNow().getTime() + this.#settings.maxFrozenMs).toISOString() });
    const attempt = await this.#engine.freeze({
      reason: 'host',
      msgid: request.msgidText,
      deadline,
      readAt: request.readAt,
      signal: this.#stop.signal,
      watchdogMs: this.#settings.maxFrozenMs,
      onWatchdog: () => this.#watchdog(request.msgidText),
      onBrokenFreeze: (event) =>
        this.#log.error(`BROKEN FREEZE: resident hook ${event.hook} (pid ${event.pid}) ended while frozen (${event.signal ?? `exit ${event.exitCode}`}); the thaw will report failure`),
    });
    this.#collect(record, { ...attempt.result, ...(attempt.fs ? { mounts: attempt.fs.results } : {}) });
    if (!attempt.ok) return this.#failFreeze(request, record, attempt.result.problems[0] ?? 'a hook failed');
    const elapsed = this.#clock.now() - request.readAt;
    if (this.#clock.now() >= deadline) {
      return this.#failFreeze(request, record, `done ${Math.round(elapsed)} ms after the read, past the ${this.#settings.requestTimeoutMs} ms deadline`);
    }
    if (this.#engine.frozen) this.#phase = 'frozen';
    const delivery = this.#answer(request, 'success', record);
    this.#end(record, delivery.delivered ? 'success' : 'fail');
    if (!this.#engine.frozen) return;
    if (!delivery.delivered) {
      this.#log.error(`the FREEZE success for msgid ${request.msgidText} could not be delivered: the host will not send THAW. Thawing now.`);
      this.#inBackground('thawing a freeze whose answer was lost', () => this.#thawNow('rollback', undefined));
    } else if (delivery.late) {
      this.#log.error(
        `the FREEZE success for msgid ${request.msgidText} went out ${Math.round(delivery.elapsedMs)} ms after the read, past the kernel's ` +
          `${this.#kernelTimeoutMs()} ms limit: the host has failed this backup and may never send THAW. Thawing now.`,
      );
      this.#inBackground('thawing a freeze answered too late', () => this.#thawNow('rollback', undefined));
    }
  }

  /** A freeze that failed: answer failure, then roll back in the background whatever may be frozen. */
  #failFreeze(request: VssRequest, record: TransactionRecord, why: string): void {
    const frozen = this.#engine.frozen;
    this.#log.error(`freeze failed (${why}): answering failure and rolling back ${frozen?.hooks.length ?? 0} hook(s)`);
    this.#answer(request, 'fail', record);
    this.#end(record, 'fail');
    if (frozen) this.#inBackground('rolling back a failed freeze', () => this.#thawNow('rollback', undefined));
  }

  /**
   * A host THAW is answered within its deadline, whatever the thaw hooks do: those still running
   * then go on in the background, and the answer is failure (not everything is known to be thawed).
   */
  async #hostThaw(request: VssRequest): Promise<void> {
    const frozen = this.#engine.frozen;
    const broken = this.#broken;
    this.#broken = undefined;
    if (!frozen && broken !== undefined) {
      return this.#fail(request, this.#begin('thaw', request.msgidText, 'host'), `ends a freeze that broke before it: ${broken}; everything was thawed then`);
    }
    if (!frozen || frozen.reason === 'manual') {
      const record = this.#begin('thaw', request.msgidText, 'host');
      this.#log.info(`THAW with nothing of the host's frozen (msgid ${request.msgidText}): answering success${frozen ? '; the manual freeze stays' : ''}`);
      this.#answer(request, 'success', record);
      this.#end(record, 'success');
      return;
    }
    const deadline = this.#deadline(request);
    const thawing = this.#startThaw('host', deadline, request.msgidText);
    if (await this.#settlesWithin(thawing.done, deadline - this.#clock.now())) {
      const status = (await thawing.done) ? 'success' : 'fail';
      this.#answer(request, status, thawing.record);
      this.#end(thawing.record, status);
      return;
    }
    const problem = `thaw hooks still running at the ${this.#settings.requestTimeoutMs} ms deadline; they go on in the background`;
    thawing.record.problems.push(problem);
    this.#log.error(`THAW (msgid ${request.msgidText}): ${problem}; answering failure now`);
    this.#answer(request, 'fail', thawing.record);
    this.#inBackground('finishing the thaw hooks of a THAW answered at its deadline', async () => {
      const ok = await thawing.done;
      this.#end(thawing.record, ok ? 'success' : 'fail');
    });
  }

  #watchdog(msgid: string): void {
    this.#inBackground('thawing on the watchdog', async () => {
      const frozen = this.#engine.frozen;
      if (!frozen || frozen.msgid !== msgid) return;
      // Held with the rest: written once the thaw is done, not before (the log may be on a frozen file system).
      this.#log.error(`WATCHDOG: frozen since ${frozen.since.toISOString()} and no THAW within ${this.#settings.maxFrozenMs / 1000} s: thawing now`);
      await this.#thawNow('watchdog', undefined);
    });
  }

  /** Thaws the current freeze, if any (a watchdog may have thawed it first), and ends its transaction. */
  async #thawNow(reason: HookReason, deadline: number | undefined): Promise<boolean> {
    if (!this.#engine.frozen) return true;
    const thawing = this.#startThaw(reason, deadline, undefined);
    const ok = await thawing.done;
    this.#end(thawing.record, ok ? 'success' : 'fail');
    // A thaw of its own (not a request's) leaves the agent idle; a request under way sets its phase itself.
    if (this.#current === undefined && this.#phase === 'thawing') this.#phase = this.#engine.frozen ? 'frozen' : 'idle';
    return ok;
  }

  #startThaw(reason: HookReason, deadline: number | undefined, msgid: string | undefined): Thawing {
    this.#phase = 'thawing';
    const record = this.#begin('thaw', msgid ?? this.#engine.frozen?.msgid ?? '', reason);
    const options = { ...(deadline === undefined ? {} : { deadline }), ...(msgid === undefined ? {} : { msgid }) };
    const done = this.#engine.thaw(reason, options).then((result) => {
      this.#collect(record, result);
      this.#releaseIfIdle();
      return result.ok;
    });
    return { record, done };
  }

  #begin(op: string, msgid: string, reason: HookReason): TransactionRecord {
    return this.history.begin(op, msgid, reason);
  }

  #collect(record: TransactionRecord, result: StageResults): void {
    this.history.collect(record, result);
  }

  #end(record: TransactionRecord, result: 'success' | 'fail'): void {
    this.history.end(record, result);
  }

  #kernelTimeoutMs(): number {
    return this.#device?.kernelTimeoutMs ?? 0;
  }

  /** Writes the answer. A device that fails (closed on stop, gone) is logged, never thrown: the caller decides what to thaw. */
  #answer(request: VssRequest, status: 'success' | 'fail', record: TransactionRecord): Delivery {
    let receipt: AnswerReceipt;
    try {
      if (!this.#device) throw new Error('no device');
      receipt = this.#device.answer(request, status);
    } catch (err) {
      const elapsedMs = Math.round(this.#clock.now() - request.readAt);
      const problem = `the ${status} answer could not be written: ${(err as Error).message}`;
      this.history.answered(record, { status, elapsedMs, late: false, delivered: false });
      record.problems.push(problem);
      this.#log.error(`${opName(request.opt).toUpperCase()} (msgid ${request.msgidText}): ${problem}`);
      return { status, elapsedMs, late: false, delivered: false };
    }
    this.history.answered(record, { status, elapsedMs: Math.round(receipt.elapsedMs), late: receipt.late, delivered: true });
    const line = `answered ${status} to ${opName(request.opt)} (msgid ${request.msgidText}) ${Math.round(receipt.elapsedMs)} ms after reading it`;
    if (receipt.late) this.#log.error(`${line}: LATE, past the kernel's ${this.#kernelTimeoutMs()} ms limit, so the kernel ignored it`);
    else this.#log.info(line);
    return { ...receipt, delivered: true };
  }
}
