// FsAgent: the daemon's second request loop, on hv_fsvss_dev (the fs role, in place of
// hv_vss_daemon). The kernel orders the two channels: CHECK and FREEZE go to the application
// device first and to the fs device only after the app answered success; THAW goes to the fs
// device first. So this loop answers from the same FreezeEngine the VssAgent drives:
//   CHECK  the mount plan's verdict (naming a refused mount and the fix);
//   FREEZE the plan's mounts, which the app FREEZE named in the journal's intent; a failure
//          answers failure and rolls back mounts and hooks (the kernel sends no THAW after it);
//   THAW   the mounts only; the app THAW that follows thaws the hooks.
// Every answer goes out within the request deadline, like the application agent's.
import { opName } from '../protocol/hv-vss.ts';
import type { RequestChannel, VssRequest } from '../native/vss-device.ts';
import type { AgentLogger } from '../log/logger.ts';
import type { Clock } from '../util/clock.ts';
import type { FreezeEngine } from '../engine/freeze-engine.ts';
import { TransactionHistory, type TransactionRecord } from './transaction-history.ts';

export interface FsAgentDeps {
  readonly engine: FreezeEngine;
  readonly clock: Clock;
  readonly log: AgentLogger;
  readonly requestTimeoutMs: number;
  /** Thaws the whole freeze (mounts, then hooks) in the background: after a failed or undelivered fs FREEZE. */
  readonly rollback: (why: string) => void;
  /** Where each fs request is recorded with its per-mount results (the application agent's history, for status). */
  readonly history?: TransactionHistory;
}

/**
 * The fs FREEZE answers this long before the kernel's limit at the latest: the kernel's timer
 * started before the application device read the request (its notify), and the answer has to
 * be written.
 */
const KERNEL_MARGIN_MS = 200;

export class FsAgent {
  readonly #deps: FsAgentDeps;
  readonly #history: TransactionHistory;
  #device: RequestChannel | undefined;
  #stopping = false;
  /** Counted for status: fs requests answered, by op and result. */
  readonly answered = new Map<string, number>();

  constructor(deps: FsAgentDeps) {
    this.#deps = deps;
    this.#history = deps.history ?? new TransactionHistory(deps.clock, deps.log);
  }

  get path(): string | undefined {
    return this.#device?.path;
  }

  /** No new request is read; close the device to wake a pending read. */
  stop(): void {
    this.#stopping = true;
  }

  /** Serves the fs device until it is closed or fails (the caller then stops the daemon). */
  async run(device: RequestChannel): Promise<void> {
    this.#device = device;
    this.#deps.log.info(`registered on ${device.path} (the fs role: the mount plan's file systems)`);
    while (!this.#stopping) {
      const request = await device.nextRequest();
      if (!request) return;
      await this.#handle(request);
    }
  }

  async #handle(request: VssRequest): Promise<void> {
    const { engine, log } = this.#deps;
    const name = opName(request.opt);
    log.debug(`fs device: received ${name} (msgid ${request.msgidText})`);
    const deadline = this.#deadline(request);
    const record = this.#history.begin(name, request.msgidText, 'host', 'fs');
    switch (request.op) {
      case 'check': {
        if (this.#stopping) {
          this.#answer(request, record, 'fail', 'refused: the daemon is stopping');
          return;
        }
        const problems = await engine.checkFs();
        this.#answer(request, record, problems.length === 0 ? 'success' : 'fail', problems.length === 0 ? undefined : `cannot be consistent: ${problems.join('; ')}`);
        return;
      }
      case 'freeze': {
        if (this.#stopping) {
          this.#answer(request, record, 'fail', 'refused: the daemon is stopping');
          return this.#deps.rollback('the daemon is stopping');
        }
        const outcome = await engine.freezeFs(deadline);
        this.#history.collect(record, { mounts: outcome.results });
        if (!outcome.ok) {
          this.#answer(request, record, 'fail', `the file systems could not be frozen: ${outcome.problems.join('; ')}`);
          // The kernel sends no THAW after a failed FREEZE: the hooks are thawed here.
          return this.#deps.rollback('the fs FREEZE failed');
        }
        if (this.#deps.clock.now() >= deadline) {
          const late = Math.round(this.#deps.clock.now() - deadline);
          this.#answer(request, record, 'fail', `the file systems froze ${late} ms past the request's deadline (the kernel's limit counts from the application FREEZE of the same transaction)`);
          return this.#deps.rollback('the fs FREEZE was past its deadline');
        }
        const delivered = this.#answer(request, record, 'success', undefined);
        if (!delivered) this.#deps.rollback('the fs FREEZE success could not be delivered or went out late: the host will not send THAW');
        return;
      }
      case 'thaw': {
        const thawing = engine.thawFs();
        const settled = await this.#within(thawing, deadline - this.#deps.clock.now());
        if (!settled) {
          this.#answer(request, record, 'fail', `the file systems were not thawed by the ${this.#deps.requestTimeoutMs} ms deadline; the thaw goes on`);
          // The record gets the mounts' results once the thaw is done.
          void thawing.then((outcome) => this.#history.collect(record, { mounts: outcome.results }), () => {});
          return;
        }
        const outcome = await thawing;
        this.#history.collect(record, { mounts: outcome.results });
        this.#answer(request, record, outcome.ok ? 'success' : 'fail', outcome.ok ? undefined : outcome.problems.join('; '));
        return;
      }
      default:
        this.#answer(request, record, 'fail', `is an unknown operation ${request.opt} from the kernel`);
    }
  }

  /**
   * The request's own deadline, and for a FREEZE never later than the kernel's limit for the
   * transaction: its one timer started before the application device read the same request
   * (the kernel sends CHECK and FREEZE to the application first), so the fs stage has only what
   * the hooks left of it.
   */
  #deadline(request: VssRequest): number {
    const own = request.readAt + this.#deps.requestTimeoutMs;
    const frozen = this.#deps.engine.frozen;
    const kernelTimeoutMs = this.#device?.kernelTimeoutMs;
    if (request.op !== 'freeze' || !frozen || frozen.msgid !== request.msgidText || frozen.readAt === undefined || kernelTimeoutMs === undefined) return own;
    return Math.min(own, frozen.readAt + kernelTimeoutMs - KERNEL_MARGIN_MS);
  }

  #within(promise: Promise<unknown>, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = this.#deps.clock.setTimer(Math.max(0, ms), () => resolve(false));
      const done = () => {
        timer.cancel();
        resolve(true);
      };
      void promise.then(done, done);
    });
  }

  /** Writes the answer; true when it was delivered in time. A failing device is logged, never thrown. */
  #answer(request: VssRequest, record: TransactionRecord, status: 'success' | 'fail', problem: string | undefined): boolean {
    const { log } = this.#deps;
    const name = opName(request.opt);
    const key = `${name} ${status}`;
    this.answered.set(key, (this.answered.get(key) ?? 0) + 1);
    if (problem) {
      record.problems.push(problem);
      log.error(`fs ${name.toUpperCase()} (msgid ${request.msgidText}) ${problem}; answering failure`);
    }
    let delivered = false;
    try {
      if (!this.#device) throw new Error('no device');
      const receipt = this.#device.answer(request, status);
      this.#history.answered(record, { status, elapsedMs: Math.round(receipt.elapsedMs), late: receipt.late, delivered: true });
      const line = `fs device: answered ${status} to ${name} (msgid ${request.msgidText}) ${Math.round(receipt.elapsedMs)} ms after reading it`;
      if (receipt.late) log.error(`${line}: LATE, past the kernel's ${this.#device.kernelTimeoutMs} ms limit, so the kernel ignored it`);
      else log.info(line);
      delivered = !receipt.late;
    } catch (err) {
      const why = `the ${status} answer could not be written: ${(err as Error).message}`;
      record.problems.push(why);
      this.#history.answered(record, { status, elapsedMs: Math.round(this.#deps.clock.now() - request.readAt), late: false, delivered: false });
      log.error(`fs ${name.toUpperCase()} (msgid ${request.msgidText}): ${why}`);
    }
    this.#history.end(record, status === 'success' && delivered ? 'success' : 'fail');
    return delivered;
  }
}
