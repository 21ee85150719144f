// The emulated hv_vss kernel: FreeBSD's hv_snapshot.c state machine, with no I/O of its own.
// The FUSE glue (emulator-server.ts) turns open/release/poll/ioctl on the two files into calls
// here; the host side calls hostRequest(). Time comes from a Clock so it can be unit-tested.
//
// Rules reproduced (see docs/protocol.md):
// - one opener per device (EBUSY);
// - one transaction at a time: a host request arriving while one is queued anywhere is dropped;
// - CHECK/FREEZE go to the app device first (if an app is registered), then to the fs device
//   after an app VSS_SUCCESS; THAW goes to the fs device first, then to the app;
// - any VSS_FAIL ends the transaction; one timeout for the whole transaction, not restarted
//   between stages; on expiry the request leaves every queue and the host gets a failure;
// - a write for a transaction the kernel no longer holds is ignored (recorded here as stale);
// - a read with nothing queued returns status VSS_FAIL;
// - fs daemon never registered: host requests wait in the channel until it registers;
//   registered once and gone: every host request fails at once.
import { KERNEL_TIMEOUT_MS, VSS_FAIL, VSS_HBU_NO_AUTO_RECOVERY, VSS_SUCCESS, codeFromOp, opName, type VssOp } from '../protocol/hv-vss.ts';
import type { Clock, Timer } from '../util/clock.ts';

export type Side = 'app' | 'fs';

export interface KernelMessage {
  readonly opt: number;
  readonly status: number;
  readonly msgid: bigint;
  readonly reserved?: Uint8Array;
}

export interface StageRecord {
  readonly side: Side;
  /** ms since the transaction started */
  readonly notifiedMs: number;
  readMs?: number;
  answeredMs?: number;
  status?: 'success' | 'fail';
}

export type HostOutcome = 'success' | 'fail' | 'dropped' | 'unanswered';

export interface HostResult {
  readonly op: string;
  readonly opt: number;
  readonly msgid: string;
  readonly result: HostOutcome;
  /** ok, app-failed, fs-failed, timeout, fs-daemon-gone, busy, fs-daemon-never-registered */
  readonly reason: string;
  /** Where the transaction was when it timed out. */
  readonly timedOutIn?: Side;
  /** VSS_HBU_NO_AUTO_RECOVERY on a successful CHECK */
  readonly flags?: number;
  readonly totalMs: number;
  readonly stages: readonly StageRecord[];
}

export type KernelEvent =
  | { readonly kind: 'open'; readonly side: Side; readonly pid: number }
  | { readonly kind: 'open-busy'; readonly side: Side; readonly pid: number }
  | { readonly kind: 'release'; readonly side: Side }
  | { readonly kind: 'notify'; readonly side: Side; readonly opt: number; readonly msgid: string }
  | { readonly kind: 'read'; readonly side: Side; readonly opt: number; readonly msgid: string; readonly empty: boolean }
  | { readonly kind: 'answer'; readonly side: Side; readonly opt: number; readonly msgid: string; readonly status: number }
  | {
      readonly kind: 'stale-write';
      readonly side: Side;
      readonly opt: number;
      readonly msgid: string;
      readonly status: number;
      /** How long after the transaction's timeout the write came, when the kernel knew it. */
      readonly lateByMs?: number;
    }
  | { readonly kind: 'violation'; readonly side: Side; readonly what: string }
  | { readonly kind: 'host-result'; readonly result: HostResult };

export interface VssKernelOptions {
  readonly clock: Clock;
  readonly timeoutMs?: number;
  /** Called when a device's notify queue becomes non-empty (poll wake-up). */
  readonly onReadable?: (side: Side) => void;
  readonly onEvent?: (event: KernelEvent) => void;
}

interface Transaction {
  readonly opt: number;
  readonly msgid: bigint;
  readonly startedAt: number;
  readonly stages: StageRecord[];
  /** Where it sits now: notify queue (not yet read) or ack queue (read, awaiting the answer). */
  where: { side: Side; queue: 'notify' | 'ack' } | undefined;
  timer: Timer | undefined;
  readonly resolve: (result: HostResult) => void;
}

interface Device {
  registered: boolean;
  everRegistered: boolean;
}

export class VssKernel {
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #onReadable: (side: Side) => void;
  readonly #onEvent: (event: KernelEvent) => void;
  readonly #devices: Record<Side, Device> = {
    app: { registered: false, everRegistered: false },
    fs: { registered: false, everRegistered: false },
  };
  #current: Transaction | undefined;
  /** Host requests held in the channel while the fs daemon has never registered. */
  readonly #channel: Array<() => void> = [];
  /** Recently expired transactions, to say how late a stale write was. */
  readonly #expired = new Map<bigint, number>();
  #lastMsgid = 0n;

  constructor(options: VssKernelOptions) {
    this.#clock = options.clock;
    this.#timeoutMs = options.timeoutMs ?? KERNEL_TIMEOUT_MS;
    this.#onReadable = options.onReadable ?? (() => {});
    this.#onEvent = options.onEvent ?? (() => {});
  }

  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  registered(side: Side): boolean {
    return this.#devices[side].registered;
  }

  /** open(2): 0, or the errno name the caller gets. */
  open(side: Side, pid: number): 0 | 'EBUSY' {
    const dev = this.#devices[side];
    if (dev.registered) {
      this.#onEvent({ kind: 'open-busy', side, pid });
      return 'EBUSY';
    }
    dev.registered = true;
    dev.everRegistered = true;
    this.#onEvent({ kind: 'open', side, pid });
    if (side === 'fs') {
      // The driver processes what waited in the channel as soon as the fs daemon registers.
      for (const start of this.#channel.splice(0)) start();
    }
    return 0;
  }

  /** close(2) of the last descriptor: unregisters that side (queued requests stay queued). */
  release(side: Side): void {
    this.#devices[side].registered = false;
    this.#onEvent({ kind: 'release', side });
  }

  /** poll(2): POLLIN when this device's notify queue is non-empty. */
  readable(side: Side): boolean {
    const where = this.#current?.where;
    return where !== undefined && where.side === side && where.queue === 'notify';
  }

  /** IOCHVVSSREAD */
  read(side: Side): KernelMessage {
    const tx = this.#current;
    if (!tx || !this.readable(side)) {
      this.#onEvent({ kind: 'read', side, opt: 0, msgid: '0', empty: true });
      return { opt: 0, status: VSS_FAIL, msgid: 0n };
    }
    tx.where = { side, queue: 'ack' };
    const stage = tx.stages.at(-1);
    if (stage) stage.readMs = this.#since(tx);
    this.#onEvent({ kind: 'read', side, opt: tx.opt, msgid: tx.msgid.toString(), empty: false });
    return { opt: tx.opt, status: VSS_SUCCESS, msgid: tx.msgid };
  }

  /** IOCHVVSSWRITE: never reports anything back to the caller, as on FreeBSD. */
  write(side: Side, msg: KernelMessage): void {
    const tx = this.#current;
    const msgidText = msg.msgid.toString();
    if (msg.reserved && msg.reserved.some((b) => b !== 0)) {
      this.#onEvent({ kind: 'violation', side, what: `reserved bytes not zero in the answer for ${msgidText}` });
    }
    if (!tx || tx.msgid !== msg.msgid || tx.where?.side !== side || tx.where.queue !== 'ack') {
      const expiredAt = this.#expired.get(msg.msgid);
      this.#onEvent({
        kind: 'stale-write',
        side,
        opt: msg.opt,
        msgid: msgidText,
        status: msg.status,
        ...(expiredAt === undefined ? {} : { lateByMs: this.#clock.now() - expiredAt }),
      });
      return;
    }
    if (msg.opt !== tx.opt) {
      // FreeBSD KASSERTs this: a debug kernel panics. Record it loudly and go on like a release kernel.
      this.#onEvent({ kind: 'violation', side, what: `answer echoes opt ${msg.opt}, request was ${tx.opt} (${msgidText})` });
    }
    const ok = msg.status === VSS_SUCCESS;
    const stage = tx.stages.at(-1);
    if (stage) {
      stage.answeredMs = this.#since(tx);
      stage.status = ok ? 'success' : 'fail';
    }
    tx.where = undefined;
    this.#onEvent({ kind: 'answer', side, opt: msg.opt, msgid: msgidText, status: msg.status });
    const thaw = tx.opt === codeFromOp('thaw');
    if (!ok) return this.#finish(tx, 'fail', side === 'app' ? 'app-failed' : 'fs-failed');
    if (side === 'app' && !thaw) {
      // The fs stage follows only while the fs daemon is registered; if it vanished, the
      // request is stranded until the timeout (the driver logs "vss daemon was killed").
      if (this.#devices.fs.registered) this.#notify(tx, 'fs');
      return;
    }
    if (side === 'fs' && thaw && this.#devices.app.registered) return this.#notify(tx, 'app');
    this.#finish(tx, 'success', 'ok');
  }

  /** A host request (CHECK, FREEZE, THAW, or a raw opt for protocol tests). */
  hostRequest(request: VssOp | { readonly opt: number }): Promise<HostResult> {
    const opt = typeof request === 'string' ? codeFromOp(request) : request.opt;
    return new Promise((resolve) => {
      const fs = this.#devices.fs;
      if (fs.everRegistered && !fs.registered) {
        return resolve(this.#report({ op: opName(opt), opt, msgid: '0', result: 'fail', reason: 'fs-daemon-gone', totalMs: 0, stages: [] }));
      }
      const start = () => this.#start(opt, resolve);
      if (!fs.everRegistered) {
        // hv_vss_callback leaves the message in the channel until the fs daemon registers.
        this.#channel.push(start);
        this.#clock.setTimer(this.#timeoutMs, () => {
          const i = this.#channel.indexOf(start);
          if (i === -1) return;
          this.#channel.splice(i, 1);
          resolve(this.#report({ op: opName(opt), opt, msgid: '0', result: 'unanswered', reason: 'fs-daemon-never-registered', totalMs: this.#timeoutMs, stages: [] }));
        }, { unref: true });
        return;
      }
      start();
    });
  }

  #start(opt: number, resolve: (r: HostResult) => void): void {
    if (this.#current) {
      resolve(this.#report({ op: opName(opt), opt, msgid: '0', result: 'dropped', reason: 'busy', totalMs: 0, stages: [] }));
      return;
    }
    // msgid: a nanosecond timestamp, strictly increasing even for back-to-back requests.
    let msgid = BigInt(this.#clock.wallNow().getTime()) * 1_000_000n + BigInt(Math.floor((this.#clock.now() % 1) * 1e6));
    if (msgid <= this.#lastMsgid) msgid = this.#lastMsgid + 1n;
    this.#lastMsgid = msgid;
    const tx: Transaction = { opt, msgid, startedAt: this.#clock.now(), stages: [], where: undefined, timer: undefined, resolve };
    this.#current = tx;
    tx.timer = this.#clock.setTimer(this.#timeoutMs, () => this.#timeout(tx));
    const thaw = opt === codeFromOp('thaw');
    this.#notify(tx, !thaw && this.#devices.app.registered ? 'app' : 'fs');
  }

  #notify(tx: Transaction, side: Side): void {
    tx.where = { side, queue: 'notify' };
    tx.stages.push({ side, notifiedMs: this.#since(tx) });
    this.#onEvent({ kind: 'notify', side, opt: tx.opt, msgid: tx.msgid.toString() });
    this.#onReadable(side);
  }

  #timeout(tx: Transaction): void {
    if (this.#current !== tx) return;
    const side = tx.where?.side;
    this.#expired.set(tx.msgid, this.#clock.now());
    if (this.#expired.size > 64) this.#expired.delete(this.#expired.keys().next().value as bigint);
    tx.timer = undefined;
    this.#finish(tx, 'fail', 'timeout', side);
  }

  #finish(tx: Transaction, result: 'success' | 'fail', reason: string, timedOutIn?: Side): void {
    tx.timer?.cancel();
    tx.where = undefined;
    this.#current = undefined;
    const check = tx.opt === codeFromOp('check');
    tx.resolve(this.#report({
      op: opName(tx.opt),
      opt: tx.opt,
      msgid: tx.msgid.toString(),
      result,
      reason,
      ...(timedOutIn ? { timedOutIn } : {}),
      ...(check && result === 'success' ? { flags: VSS_HBU_NO_AUTO_RECOVERY } : {}),
      totalMs: this.#since(tx),
      stages: tx.stages,
    }));
  }

  #report(result: HostResult): HostResult {
    this.#onEvent({ kind: 'host-result', result });
    return result;
  }

  #since(tx: Transaction): number {
    return Math.round((this.#clock.now() - tx.startedAt) * 1000) / 1000;
  }
}
