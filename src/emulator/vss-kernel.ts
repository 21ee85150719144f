// The emulated hv_vss kernel: FreeBSD's hv_snapshot.c state machine, with no I/O of its own.
// The FUSE glue (emulator-server.ts) turns open/release/poll/ioctl on the two files into calls
// here; the host side calls hostRequest(). Time comes from a Clock so it can be unit-tested.
//
// Rules reproduced (docs/protocol.md gives the source lines of each):
// - one opener per device (EBUSY); the last opener is remembered after it closes (proc_task);
// - host messages wait in the channel while the fs daemon has never opened its device; when it
//   does, all of them are processed in arrival order, stale ones too;
// - fs daemon opened once and closed since: every host message is answered failure at once;
// - one transaction at a time: a host message arriving while one is in any queue is ignored,
//   with no reply to the host;
// - CHECK/FREEZE go to the app device first (if an app is registered), then to the fs device
//   after an app VSS_SUCCESS; THAW goes to the fs device first, then to the app;
// - any VSS_FAIL ends the transaction; one timeout for the whole transaction, not restarted
//   between stages; on expiry the request leaves every queue and the host gets a failure;
// - an app answer while the fs daemon is not registered is taken off the queue and dropped
//   ("vss daemon was killed"): the request is stranded and the host hears only at the timeout;
// - the answer is dispatched on the opt it echoes (the KASSERT on a mismatch is debug-only);
//   the app's status is read as a uint8_t, the fs daemon's as a uint32_t;
// - a write for a transaction the kernel no longer holds is ignored (recorded here as stale);
// - a read with nothing queued returns status VSS_FAIL;
// - every reply to a CHECK carries VSS_HBU_NO_AUTO_RECOVERY, failures included;
// - detach: the last openers are killed, queued work is freed, nobody replies to the host.
import { KERNEL_TIMEOUT_MS, VSS_FAIL, VSS_HBU_NO_AUTO_RECOVERY, VSS_SUCCESS, VssOpCode, codeFromOp, opName, type VssOp } from '../protocol/hv-vss.ts';
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

/** What the host sees: a reply (success or fail), or none at all within its patience. */
export type HostOutcome = 'success' | 'fail' | 'unanswered';

export interface HostResult {
  readonly op: string;
  readonly opt: number;
  /** The transaction's id, '0' when the message never became a transaction. */
  readonly msgid: string;
  readonly result: HostOutcome;
  /**
   * Replies: ok, app-failed, fs-failed, timeout, stranded (an answer was dropped, the timeout
   * replied), fs-daemon-gone. No reply: ignored-busy, fs-daemon-never-registered, detached, or
   * no-reply (a transaction still running when the host stopped waiting: hostWaitMs < timeoutMs).
   */
  readonly reason: string;
  /** Where the transaction was when it timed out. */
  readonly timedOutIn?: Side;
  /** VSS_HBU_NO_AUTO_RECOVERY: on every reply to a CHECK, success or not. */
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
  /** A host message the kernel read and ignored: no reply will come. */
  | { readonly kind: 'host-ignored'; readonly op: string; readonly opt: number; readonly why: string }
  /** An answer taken off the ack queue and dropped: the request waits for its timeout. */
  | { readonly kind: 'stranded'; readonly side: Side; readonly opt: number; readonly msgid: string; readonly why: string }
  /** A KASSERT that a debug (INVARIANTS) kernel would panic on; a release kernel goes on. */
  | { readonly kind: 'kernel-assert'; readonly what: string }
  | { readonly kind: 'violation'; readonly side: Side; readonly what: string }
  | { readonly kind: 'host-result'; readonly result: HostResult }
  /** The kernel replied after the host had stopped waiting: nobody hears it. */
  | { readonly kind: 'late-reply'; readonly result: HostResult }
  | { readonly kind: 'detach'; readonly killed: readonly { side: Side; pid: number }[]; readonly notKilled: readonly { side: Side; pid: number; why: string }[] };

export interface VssKernelOptions {
  readonly clock: Clock;
  readonly timeoutMs?: number;
  /**
   * How long the emulated host waits for a reply before it reports 'unanswered'. Hyper-V's own
   * patience is not documented; it must outlast the guest's limit, so the default is twice it.
   */
  readonly hostWaitMs?: number;
  /** Called when a device's notify queue becomes non-empty (poll wake-up). */
  readonly onReadable?: (side: Side) => void;
  readonly onEvent?: (event: KernelEvent) => void;
}

/** One host message and the host waiting for its reply. */
interface HostCall {
  readonly opt: number;
  readonly sentAt: number;
  /** What became of the message, for the reason the host gets when nobody replies. */
  fate: 'channel' | 'ignored-busy' | 'transaction' | 'detached';
  settled: boolean;
  readonly patience: Timer;
  readonly resolve: (result: HostResult) => void;
}

interface Transaction {
  readonly opt: number;
  readonly msgid: bigint;
  readonly startedAt: number;
  readonly stages: StageRecord[];
  readonly call: HostCall;
  /** Where it sits now: notify queue (not yet read) or ack queue (read, awaiting the answer). */
  where: { side: Side; queue: 'notify' | 'ack' } | undefined;
  timer: Timer | undefined;
  done: boolean;
}

interface Device {
  registered: boolean;
  /** FreeBSD's proc_task: set by every open, never cleared by close. */
  lastOpener: number | undefined;
}

const KNOWN_OPTS: ReadonlySet<number> = new Set([VssOpCode.CHECK, VssOpCode.FREEZE, VssOpCode.THAW]);

export class VssKernel {
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #hostWaitMs: number;
  readonly #onReadable: (side: Side) => void;
  readonly #onEvent: (event: KernelEvent) => void;
  readonly #devices: Record<Side, Device> = {
    app: { registered: false, lastOpener: undefined },
    fs: { registered: false, lastOpener: undefined },
  };
  /** The transaction in a notify or ack queue (at most one: a second host message is ignored). */
  #current: Transaction | undefined;
  /** Transactions whose answer was dropped: out of every queue, waiting for their timeout. */
  readonly #stranded = new Set<Transaction>();
  /** Host messages left in the VMBus channel while the fs daemon has never registered. */
  readonly #channel: HostCall[] = [];
  /** Recently expired transactions, to say how late a stale write was. */
  readonly #expired = new Map<bigint, number>();
  #lastMsgid = 0n;
  #detached = false;

  constructor(options: VssKernelOptions) {
    this.#clock = options.clock;
    this.#timeoutMs = options.timeoutMs ?? KERNEL_TIMEOUT_MS;
    this.#hostWaitMs = options.hostWaitMs ?? 2 * this.#timeoutMs;
    this.#onReadable = options.onReadable ?? (() => {});
    this.#onEvent = options.onEvent ?? (() => {});
  }

  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  get hostWaitMs(): number {
    return this.#hostWaitMs;
  }

  get detached(): boolean {
    return this.#detached;
  }

  registered(side: Side): boolean {
    return this.#devices[side].registered;
  }

  /** The process that opened this device last, open or not (what detach signals). */
  lastOpener(side: Side): number | undefined {
    return this.#devices[side].lastOpener;
  }

  /** open(2): 0, or the errno name the caller gets. Permission is the caller's (devfs) business. */
  open(side: Side, pid: number): 0 | 'EBUSY' | 'ENOENT' {
    if (this.#detached) return 'ENOENT';
    const dev = this.#devices[side];
    if (dev.registered) {
      this.#onEvent({ kind: 'open-busy', side, pid });
      return 'EBUSY';
    }
    dev.registered = true;
    dev.lastOpener = pid;
    this.#onEvent({ kind: 'open', side, pid });
    if (side === 'fs') {
      // hv_vss_dev_open runs hv_vss_callback: everything that waited in the channel is
      // processed now, in order, however old (the host may have given up on it long ago).
      for (const call of this.#channel.splice(0)) this.#accept(call);
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
    // hv_vss_app_acked keeps the status in a uint8_t, hv_vss_daemon_acked in a uint32_t.
    const status = side === 'app' ? msg.status & 0xff : msg.status >>> 0;
    const ok = status === VSS_SUCCESS;
    const stage = tx.stages.at(-1);
    if (stage) {
      stage.answeredMs = this.#since(tx);
      stage.status = ok ? 'success' : 'fail';
    }
    tx.where = undefined; // off the ack queue, whatever follows
    this.#onEvent({ kind: 'answer', side, opt: msg.opt, msgid: msgidText, status: msg.status });
    // The driver switches on the echoed opt. Raw opts (unknown to the driver, which never hands
    // them out) are an emulator extension for protocol tests: they follow the CHECK path.
    const opt = KNOWN_OPTS.has(msg.opt) ? msg.opt : KNOWN_OPTS.has(tx.opt) ? undefined : VssOpCode.CHECK;
    if (side === 'app') {
      if (!this.#devices.fs.registered) return this.#strand(tx, side, 'the app answered while the fs daemon was not registered ("vss daemon was killed")');
      if (opt === undefined) return this.#strand(tx, side, `the answer echoes opt ${msg.opt}, which the driver does not handle`);
      if (opt === VssOpCode.THAW) return this.#finish(tx, ok ? 'success' : 'fail', ok ? 'ok' : 'app-failed');
      if (ok) return this.#notify(tx, 'fs');
      return this.#finish(tx, 'fail', 'app-failed');
    }
    if (opt === undefined) return this.#strand(tx, side, `the answer echoes opt ${msg.opt}, which the driver does not handle`);
    if (opt === VssOpCode.THAW && this.#devices.app.registered) {
      if (ok) return this.#notify(tx, 'app');
      return this.#finish(tx, 'fail', 'fs-failed');
    }
    this.#finish(tx, ok ? 'success' : 'fail', ok ? 'ok' : 'fs-failed');
  }

  /** A host request (CHECK, FREEZE, THAW, or a raw opt for protocol tests). */
  hostRequest(request: VssOp | { readonly opt: number }): Promise<HostResult> {
    const opt = typeof request === 'string' ? codeFromOp(request) : request.opt;
    return new Promise((resolve) => {
      const call: HostCall = {
        opt,
        sentAt: this.#clock.now(),
        fate: 'channel',
        settled: false,
        resolve,
        patience: this.#clock.setTimer(this.#hostWaitMs, () => this.#giveUp(call), { unref: true }),
      };
      this.#receive(call);
    });
  }

  /**
   * Driver detach (hv_vss_detach): forgets every queued request without replying to the host and
   * removes the devices. Signalling the last openers is the caller's job (it knows processes);
   * it gets their pids from lastOpener() before calling this.
   */
  detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    for (const tx of [this.#current, ...this.#stranded]) {
      if (!tx) continue;
      tx.done = true;
      tx.timer?.cancel();
      tx.call.fate = 'detached';
    }
    this.#current = undefined;
    this.#stranded.clear();
    for (const call of this.#channel.splice(0)) call.fate = 'detached';
    for (const dev of Object.values(this.#devices)) dev.registered = false;
  }

  /** hv_vss_callback + hv_vss_process_request for one host message. */
  #receive(call: HostCall): void {
    if (this.#detached) {
      call.fate = 'detached';
      return;
    }
    const fs = this.#devices.fs;
    if (fs.lastOpener === undefined) {
      // Never registered: the callback does not even read the channel.
      this.#channel.push(call);
      return;
    }
    if (!fs.registered) {
      // Registered once and closed since: "daemon was killed after launch", fail at once.
      return this.#reply(call, { msgid: '0', result: 'fail', reason: 'fs-daemon-gone', totalMs: 0, stages: [] });
    }
    this.#accept(call);
  }

  /** hv_vss_get_new_req_locked: a message finding a queue non-empty is ignored, silently. */
  #accept(call: HostCall): void {
    if (this.#current) {
      call.fate = 'ignored-busy';
      this.#onEvent({ kind: 'host-ignored', op: opName(call.opt), opt: call.opt, why: `a transaction (msgid ${this.#current.msgid}) is still queued` });
      return;
    }
    call.fate = 'transaction';
    this.#start(call);
  }

  #start(call: HostCall): void {
    // msgid: a nanosecond timestamp, strictly increasing even for back-to-back requests.
    let msgid = BigInt(this.#clock.wallNow().getTime()) * 1_000_000n + BigInt(Math.floor((this.#clock.now() % 1) * 1e6));
    if (msgid <= this.#lastMsgid) msgid = this.#lastMsgid + 1n;
    this.#lastMsgid = msgid;
    const tx: Transaction = { opt: call.opt, msgid, startedAt: this.#clock.now(), stages: [], call, where: undefined, timer: undefined, done: false };
    this.#current = tx;
    const thaw = call.opt === VssOpCode.THAW;
    this.#notify(tx, !thaw && this.#devices.app.registered ? 'app' : 'fs');
    tx.timer = this.#clock.setTimer(this.#timeoutMs, () => this.#timeout(tx));
  }

  #notify(tx: Transaction, side: Side): void {
    tx.where = { side, queue: 'notify' };
    tx.stages.push({ side, notifiedMs: this.#since(tx) });
    this.#onEvent({ kind: 'notify', side, opt: tx.opt, msgid: tx.msgid.toString() });
    this.#onReadable(side);
  }

  #strand(tx: Transaction, side: Side, why: string): void {
    this.#current = undefined;
    this.#stranded.add(tx);
    this.#onEvent({ kind: 'stranded', side, opt: tx.opt, msgid: tx.msgid.toString(), why });
  }

  #timeout(tx: Transaction): void {
    if (tx.done) return;
    tx.timer = undefined;
    this.#expired.set(tx.msgid, this.#clock.now());
    if (this.#expired.size > 64) this.#expired.delete(this.#expired.keys().next().value as bigint);
    if (this.#stranded.has(tx)) {
      // hv_vss_timeout finds the request in no queue; it replies anyway.
      this.#onEvent({ kind: 'kernel-assert', what: `"timeout but fail to find request" (msgid ${tx.msgid}): the stranded request is in no queue` });
      return this.#finish(tx, 'fail', 'stranded');
    }
    this.#finish(tx, 'fail', 'timeout', tx.where?.side);
  }

  #finish(tx: Transaction, result: 'success' | 'fail', reason: string, timedOutIn?: Side): void {
    tx.done = true;
    tx.timer?.cancel();
    tx.where = undefined;
    if (this.#current === tx) this.#current = undefined;
    this.#stranded.delete(tx);
    this.#reply(tx.call, {
      msgid: tx.msgid.toString(),
      result,
      reason,
      ...(timedOutIn ? { timedOutIn } : {}),
      totalMs: this.#since(tx),
      stages: tx.stages,
    });
  }

  /** hv_vss_notify_host_result: the flag goes on every CHECK reply, whatever the status. */
  #reply(call: HostCall, fields: Omit<HostResult, 'op' | 'opt' | 'flags'>): void {
    const result: HostResult = {
      op: opName(call.opt),
      opt: call.opt,
      ...fields,
      ...(call.opt === VssOpCode.CHECK ? { flags: VSS_HBU_NO_AUTO_RECOVERY } : {}),
    };
    if (call.settled) {
      this.#onEvent({ kind: 'late-reply', result });
      return;
    }
    call.settled = true;
    call.patience.cancel();
    this.#onEvent({ kind: 'host-result', result });
    call.resolve(result);
  }

  /** No reply within the host's patience: the host stops waiting (the message may live on). */
  #giveUp(call: HostCall): void {
    if (call.settled) return;
    call.settled = true;
    const reason = call.fate === 'channel' ? 'fs-daemon-never-registered' : call.fate === 'transaction' ? 'no-reply' : call.fate;
    const result: HostResult = {
      op: opName(call.opt),
      opt: call.opt,
      msgid: '0',
      result: 'unanswered',
      reason,
      totalMs: Math.round((this.#clock.now() - call.sentAt) * 1000) / 1000,
      stages: [],
    };
    this.#onEvent({ kind: 'host-result', result });
    call.resolve(result);
  }

  #since(tx: Transaction): number {
    return Math.round((this.#clock.now() - tx.startedAt) * 1000) / 1000;
  }
}

