// The daemon's record of what it did, for hvvss status: the last transactions (host requests on
// either device, and the agent's own thaws), with each hook's and each file system's result, and
// counters since the start. Both request loops (the application device's VssAgent and the fs
// device's FsAgent) write to one history, so status shows a backup's stages in order. Memory
// only: nothing here is written to disk (it is updated while file systems are frozen).
import type { AgentLogger } from '../log/logger.ts';
import type { Clock } from '../util/clock.ts';
import type { HookReason, HookResult } from '../hooks/index.ts';
import type { MountResult } from '../fs/fs-stage.ts';

export interface TransactionRecord {
  readonly op: string;
  readonly msgid: string;
  /** host for requests from the kernel; watchdog, recovery, shutdown, rollback for the agent's own thaws. */
  readonly reason: HookReason;
  /** 'fs' for a request of the fs device (the fs role's own channel); absent for the application device and the agent's own work. */
  readonly device?: 'fs';
  readonly startedAt: string;
  durationMs: number;
  result: 'success' | 'fail';
  answer?: { status: 'success' | 'fail'; elapsedMs: number; late: boolean; delivered: boolean };
  hooks: HookResult[];
  /** What the fs stage did to each file system, in the order it acted (a failed freeze's rollback included); absent when it did not run. */
  mounts?: MountResult[];
  problems: string[];
}

export interface TransactionCount {
  readonly op: string;
  readonly reason: HookReason;
  readonly result: 'success' | 'fail';
  readonly count: number;
}

/** What a sequence of the engine hands back: hook results, problems, and the file systems' results when the fs stage ran. */
export interface StageResults {
  readonly results?: readonly HookResult[];
  readonly problems?: readonly string[];
  readonly mounts?: readonly MountResult[];
}

const KEPT = 20;

export class TransactionHistory {
  readonly #clock: Clock;
  readonly #log: AgentLogger;
  readonly #records: TransactionRecord[] = [];
  readonly #counters = new Map<string, TransactionCount>();
  /** Monotonic start of each transaction, for its duration. */
  readonly #startedAt = new WeakMap<TransactionRecord, number>();
  #lateAnswers = 0;

  constructor(clock: Clock, log: AgentLogger) {
    this.#clock = clock;
    this.#log = log;
  }

  /** The last transactions, newest first. */
  get records(): readonly TransactionRecord[] {
    return this.#records;
  }

  get counters(): readonly TransactionCount[] {
    return [...this.#counters.values()];
  }

  /** Answers that left after the kernel's limit, since the daemon started. */
  get lateAnswers(): number {
    return this.#lateAnswers;
  }

  begin(op: string, msgid: string, reason: HookReason, device?: 'fs'): TransactionRecord {
    const record: TransactionRecord = {
      op, msgid, reason, ...(device ? { device } : {}), startedAt: this.#clock.wallNow().toISOString(), durationMs: 0, result: 'fail', hooks: [], problems: [],
    };
    this.#startedAt.set(record, this.#clock.now());
    this.#records.unshift(record);
    if (this.#records.length > KEPT) this.#records.length = KEPT;
    return record;
  }

  collect(record: TransactionRecord, result: StageResults): void {
    record.hooks.push(...(result.results ?? []));
    if (result.mounts && result.mounts.length > 0) (record.mounts ??= []).push(...result.mounts);
    record.problems.push(...(result.problems ?? []));
  }

  answered(record: TransactionRecord, answer: NonNullable<TransactionRecord['answer']>): void {
    record.answer = answer;
    if (answer.late) this.#lateAnswers += 1;
  }

  end(record: TransactionRecord, result: 'success' | 'fail'): void {
    record.result = result;
    const op = record.device ? `${record.device} ${record.op}` : record.op;
    const key = `${op}\0${record.reason}\0${result}`;
    const count = this.#counters.get(key);
    this.#counters.set(key, { op, reason: record.reason, result, count: (count?.count ?? 0) + 1 });
    record.durationMs = Math.round(this.#clock.now() - (this.#startedAt.get(record) ?? this.#clock.now()));
    // A host request's answer line already said it; the agent's own work (rollback, watchdog, ...) gets its summary here.
    this.#log.log(record.answer && record.reason === 'host' ? 'debug' : 'info', `${op} (${record.reason}, msgid ${record.msgid || '-'}): ${result} in ${record.durationMs} ms`);
  }
}
