// The manual page's example agent, as a plain module: answer each request with a chosen
// outcome after a wait. 0 = success, 1 = "timeout" (success, but only after the kernel's limit,
// so the kernel has already failed the transaction), 2 = failure. On Linux the same outcomes
// apply to HOT_BACKUP (-c), FREEZE (-f) and THAW (-t), each against its own limit, and the
// kernel refuses a late answer (EINVAL): the channel then registers again.
import { setTimeout as delay } from 'node:timers/promises';
import { opName, type VssOp } from '../protocol/hv-vss.ts';
import { VssDeviceError, type AnswerReceipt, type RequestChannel } from '../native/vss-device.ts';
import type { Logger } from '../log/logger.ts';
import type { Clock } from '../util/clock.ts';

export const OUTCOMES = { success: 0, timeout: 1, failure: 2 } as const;
export type Outcome = (typeof OUTCOMES)[keyof typeof OUTCOMES];
export const OUTCOME_NAMES: Record<Outcome, string> = { 0: 'success', 1: 'timeout', 2: 'failure' };

export interface SimulatorOptions {
  readonly outcomes: Readonly<Record<VssOp, Outcome>>;
  /** Wait before each answer (the example's 2 s). */
  readonly waitMs: number;
  readonly clock: Clock;
  readonly log: Logger;
  /** Aborting stops the simulator between requests or during a wait (without answering). */
  readonly signal?: AbortSignal;
}

export function parseOutcome(flag: string, value: string): Outcome {
  if (value === '0' || value === '1' || value === '2') return Number(value) as Outcome;
  throw new Error(
    `-${flag} takes 0 (success), 1 (timeout: answer after the kernel's limit) or 2 (failure); got ${JSON.stringify(value)}`,
  );
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3)} s`;
}

/** Runs until the channel closes (nextRequest resolves null) or the signal aborts. */
export async function runSimulator(device: RequestChannel, options: SimulatorOptions): Promise<void> {
  const { clock, log, signal } = options;
  for (;;) {
    const request = await device.nextRequest();
    if (!request || signal?.aborted) return;
    const name = opName(request.opt);
    log.info(`received ${name} (msgid ${request.msgidText})`);
    if (request.malformed) log.warn(`malformed ${name} request (msgid ${request.msgidText}): ${request.malformed}; answering anyway`);
    let status: 'success' | 'fail';
    if (request.op === undefined) {
      log.error(`illegal operation ${request.opt} (msgid ${request.msgidText}): answering failure`);
      status = 'fail';
    } else {
      const outcome = options.outcomes[request.op];
      let until = request.readAt + options.waitMs;
      // Timeout: keep waiting until --wait past the kernel's limit, counted from the read.
      if (outcome === OUTCOMES.timeout) until += request.kernelLimitMs ?? device.kernelTimeoutMs;
      log.debug(`simulating ${OUTCOME_NAMES[outcome]} for ${name}: answering in ${seconds(until - clock.now())}`);
      // --wait 0 answers at once: even a 0 ms timer would cost a turn of the event loop.
      const waitMs = until - clock.now();
      if (waitMs > 0) {
        try {
          await delay(waitMs, undefined, signal ? { signal } : {});
        } catch (err) {
          if (signal?.aborted) return;
          throw err;
        }
      }
      status = outcome === OUTCOMES.failure ? 'fail' : 'success';
      log.info(`${name} ${OUTCOME_NAMES[outcome]} simulation`);
    }
    let receipt: AnswerReceipt;
    try {
      receipt = device.answer(request, status);
    } catch (err) {
      // Linux refuses an answer it no longer waits for; the channel registers again before the next read.
      if (!(err instanceof VssDeviceError) || err.code !== 'EINVAL') throw err;
      log.warn(`sent ${status} for ${name} (msgid ${request.msgidText}) ${seconds(clock.now() - request.readAt)} after reading it: LATE, refused by the kernel (EINVAL)`);
      continue;
    }
    const message = `sent ${status} for ${name} (msgid ${request.msgidText}) ${seconds(receipt.elapsedMs)} after reading it`;
    if (receipt.late) {
      log.warn(`${message}: LATE, past the kernel's ${seconds(device.kernelTimeoutMs)} limit, so the kernel ignored it`);
    } else {
      log.info(message);
    }
  }
}
