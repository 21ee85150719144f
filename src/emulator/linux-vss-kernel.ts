// The emulated Linux VSS channel, /dev/vmbus/hv_vss: the state machine of hv_snapshot.c on top
// of the char-device transport of hv_utils_transport.c, with no I/O of its own. The FUSE glue
// (linux-emulator-server.ts) turns open/release/read/write/poll on one file into calls here;
// the host side calls hostRequest(). Time comes from a Clock so it can be unit-tested.
//
// Rules reproduced (docs/protocol.md, "Linux guests", gives the functions each comes from):
// - one opener (hvt_op_open: EBUSY while in CHARDEV mode); no ioctls;
// - registration: a 12-byte write with byte 0 = REGISTER1 queues a bare 4-byte reply (129);
//   the channel is ready once the agent has READ it (on_read = vss_register_done). Legacy
//   REGISTER (128) is accepted with no reply and leaves the channel not ready;
// - read blocks until a message is queued; a buffer shorter than the message gets EINVAL and
//   the message stays; a read returns one whole message;
// - a write of any size but 12 gets EINVAL; an answer with no transaction waiting for one (late,
//   spurious) gets EINVAL; a registration during a transaction gets EINVAL;
// - poll: POLLIN|POLLRDNORM when a message is queued, never POLLOUT;
// - the outbox holds one message: a request that finds an unread one fails at once (EFAULT
//   from hvutil_transport_send; the host gets HV_E_FAIL);
// - limits armed when the request is queued: FREEZE 900 s, HOT_BACKUP and THAW 30 s; on
//   expiry the host gets HV_E_FAIL and the unread request, if any, stays in the outbox;
// - the host's status is the `error` the agent wrote; its flags become VSS_HBU_NO_AUTO_RECOVERY
//   when byte 0 of the answer is HOT_BACKUP (2);
// - no agent ready: HOT_BACKUP/FREEZE/THAW fail at once; the kernel answers the other ops (0);
// - host messages wait in the VMBus channel while a transaction runs (hv_vss_onchannelcallback
//   returns while state > READY) and are processed in order once it ends;
// - close with a request in flight: the host gets HV_E_FAIL at once, the outbox is dropped,
//   the channel is not ready until the next registration. Nothing is thawed by the kernel;
// - hibernation (hv_vss_pre_suspend): the in-flight request gets no answer, a fake THAW is
//   queued for the agent, and the agent's answer to it gets EINVAL.
import {
  HANDSHAKE_REPLY_SIZE,
  HV_E_FAIL,
  HV_S_OK,
  LINUX_KERNEL_LIMITS,
  LINUX_MESSAGE_SIZE,
  LinuxVssOp,
  VSS_HBU_NO_AUTO_RECOVERY,
  VSS_OP_REGISTER,
  VSS_OP_REGISTER1,
  decodeLinuxMessage,
  encodeLinuxRequest,
  linuxLimitFor,
  linuxOpName,
  type LinuxKernelLimits,
} from '../protocol/linux-vss.ts';
import type { Clock, Timer } from '../util/clock.ts';

/** enum hvutil_device_state (hyperv_vmbus.h), the ones this channel goes through. */
export type LinuxChannelState = 'device-init' | 'ready' | 'userspace-req';

export interface LinuxHostResult {
  readonly op: string;
  readonly code: number;
  readonly result: 'success' | 'fail' | 'unanswered';
  /** The status the host got (HV_S_OK, HV_E_FAIL or what the agent wrote), as 0x hex. */
  readonly status: string;
  /**
   * ok (agent answered HV_S_OK), agent-failed (agent answered anything else), timeout,
   * not-registered (no agent ready), outbox-full (an unread message), agent-closed (closed with
   * the request in flight), kernel (an op the kernel answers itself), hibernated (no answer).
   */
  readonly reason: string;
  readonly flags: number;
  readonly totalMs: number;
  readonly readMs?: number;
  readonly answeredMs?: number;
}

export type LinuxKernelEvent =
  | { readonly kind: 'open'; readonly pid: number }
  | { readonly kind: 'open-busy'; readonly pid: number }
  | { readonly kind: 'release'; readonly inFlight: string | undefined }
  | { readonly kind: 'register'; readonly code: number; readonly replied: boolean }
  | { readonly kind: 'ready' }
  | { readonly kind: 'queued'; readonly op: string; readonly code: number }
  | { readonly kind: 'read'; readonly bytes: number; readonly op: string | undefined }
  | { readonly kind: 'read-einval'; readonly size: number; readonly pending: number }
  | { readonly kind: 'answer'; readonly op: string; readonly error: string }
  /** A write the kernel refused with EINVAL/EFAULT: wrong size, late, spurious, registration mid-transaction. */
  | { readonly kind: 'refused-write'; readonly errno: 'EINVAL' | 'EFAULT'; readonly why: string; readonly bytes: number; readonly lateByMs?: number }
  | { readonly kind: 'violation'; readonly what: string }
  | { readonly kind: 'hibernate'; readonly inFlight: string | undefined }
  | { readonly kind: 'host-result'; readonly result: LinuxHostResult };

export interface LinuxVssKernelOptions {
  readonly clock: Clock;
  readonly limits?: LinuxKernelLimits;
  /** The outbox became non-empty, or the opener must be woken (blocked reads, pollers). */
  readonly onReadable?: () => void;
  readonly onEvent?: (event: LinuxKernelEvent) => void;
}

interface HostCall {
  readonly code: number;
  readonly flags: number;
  readonly sentAt: number;
  readonly resolve: (result: LinuxHostResult) => void;
}

interface Transaction {
  readonly call: HostCall;
  readonly timer: Timer;
  readonly expiresAt: number;
  readAt?: number;
}

interface Outbox {
  readonly data: Buffer;
  /** hvt->on_read: vss_register_done for the handshake reply. */
  readonly onRead: (() => void) | undefined;
  /** The op of a request, for events; undefined for the handshake reply. */
  readonly code: number | undefined;
}

const AGENT_OPS: ReadonlySet<number> = new Set([LinuxVssOp.HOT_BACKUP, LinuxVssOp.FREEZE, LinuxVssOp.THAW]);
const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

export class LinuxVssKernel {
  readonly #clock: Clock;
  readonly limits: LinuxKernelLimits;
  readonly #onReadable: () => void;
  readonly #onEvent: (event: LinuxKernelEvent) => void;
  /** hvt->mode == HVUTIL_TRANSPORT_CHARDEV: somebody has the device open. */
  #open = false;
  #state: LinuxChannelState = 'device-init';
  #outbox: Outbox | undefined;
  #current: Transaction | undefined;
  /** Host messages left in the VMBus channel while a transaction runs. */
  readonly #channel: HostCall[] = [];
  /** When the last transaction timed out, to say how late a refused answer was. */
  #lastExpiry: number | undefined;

  constructor(options: LinuxVssKernelOptions) {
    this.#clock = options.clock;
    this.limits = options.limits ?? LINUX_KERNEL_LIMITS;
    this.#onReadable = options.onReadable ?? (() => {});
    this.#onEvent = options.onEvent ?? (() => {});
  }

  get state(): LinuxChannelState {
    return this.#state;
  }

  get opened(): boolean {
    return this.#open;
  }

  /** hvt_op_open: 0, or EBUSY while another descriptor has the device. */
  open(pid: number): 0 | 'EBUSY' {
    if (this.#open) {
      this.#onEvent({ kind: 'open-busy', pid });
      return 'EBUSY';
    }
    this.#open = true;
    this.#onEvent({ kind: 'open', pid });
    return 0;
  }

  /** hvt_op_release: back to INIT, outbox dropped (hvt_reset), vss_on_reset fails the request in flight. */
  release(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#outbox = undefined;
    const current = this.#current;
    this.#onEvent({ kind: 'release', inFlight: current ? linuxOpName(current.call.code) : undefined });
    if (current) this.#respond(HV_E_FAIL, 'agent-closed');
    this.#state = 'device-init';
    // Messages left in the channel are read at the next channel callback; each fails at once.
    this.#drainChannel();
  }

  /** hvt_op_poll's condition: a message is queued. */
  readable(): boolean {
    return this.#outbox !== undefined;
  }

  /**
   * hvt_op_read once a message is queued (the caller blocks while `empty`): the message, or
   * EINVAL for a buffer shorter than it (the message stays).
   */
  read(size: number): Buffer | 'EINVAL' | 'empty' {
    const outbox = this.#outbox;
    if (!outbox) return 'empty';
    if (size < outbox.data.length) {
      this.#onEvent({ kind: 'read-einval', size, pending: outbox.data.length });
      return 'EINVAL';
    }
    this.#outbox = undefined;
    if (this.#current && outbox.code !== undefined && this.#current.readAt === undefined) this.#current.readAt = this.#clock.now();
    this.#onEvent({ kind: 'read', bytes: outbox.data.length, op: outbox.code === undefined ? undefined : linuxOpName(outbox.code) });
    outbox.onRead?.();
    return outbox.data;
  }

  /** hvt_op_write -> vss_on_msg: the byte count written, or the errno. */
  write(data: Buffer): number | 'EINVAL' | 'EFAULT' {
    const refuse = (errno: 'EINVAL' | 'EFAULT', why: string, lateByMs?: number) => {
      this.#onEvent({ kind: 'refused-write', errno, why, bytes: data.length, ...(lateByMs === undefined ? {} : { lateByMs }) });
      return errno;
    };
    if (data.length !== LINUX_MESSAGE_SIZE) return refuse('EINVAL', `${data.length} bytes, not ${LINUX_MESSAGE_SIZE}`);
    const msg = decodeLinuxMessage(data);
    if (msg.operation === VSS_OP_REGISTER || msg.operation === VSS_OP_REGISTER1) {
      // Registration is refused in the middle of a transaction.
      if (this.#current) return refuse('EINVAL', 'registration while a transaction is in flight');
      if (msg.operation === VSS_OP_REGISTER) {
        this.#onEvent({ kind: 'register', code: msg.operation, replied: false });
        return data.length;
      }
      if (this.#outbox) return refuse('EFAULT', 'registration while the previous message is unread');
      const reply = Buffer.alloc(HANDSHAKE_REPLY_SIZE);
      reply.writeUInt32LE(VSS_OP_REGISTER1);
      this.#outbox = { data: reply, onRead: () => this.#registerDone(), code: undefined };
      this.#onEvent({ kind: 'register', code: msg.operation, replied: true });
      this.#onReadable();
      return data.length;
    }
    const current = this.#current;
    if (!current || this.#state !== 'userspace-req') {
      const late = this.#lastExpiry === undefined ? undefined : Math.round(this.#clock.now() - this.#lastExpiry);
      return refuse('EINVAL', 'no transaction is waiting for an answer (late, or never asked)', late);
    }
    if (current.readAt === undefined) this.#onEvent({ kind: 'violation', what: 'an answer written before the request was read (the request stays in the outbox)' });
    // vss_on_msg reads byte 0 of the answer, which `error` overlays.
    const flags = msg.operation === LinuxVssOp.HOT_BACKUP ? VSS_HBU_NO_AUTO_RECOVERY : current.call.flags;
    this.#onEvent({ kind: 'answer', op: linuxOpName(current.call.code), error: hex(msg.error) });
    this.#respond(msg.error, msg.error === HV_S_OK ? 'ok' : 'agent-failed', flags);
    this.#state = 'ready';
    this.#drainChannel();
    return data.length;
  }

  #registerDone(): void {
    this.#state = 'ready';
    this.#onEvent({ kind: 'ready' });
    this.#drainChannel();
  }

  /** A host message: resolves with what the host gets back. */
  hostRequest(code: number, flags = 0): Promise<LinuxHostResult> {
    return new Promise((resolve) => {
      this.#channel.push({ code, flags, sentAt: this.#clock.now(), resolve });
      this.#drainChannel();
    });
  }

  /** hv_vss_pre_suspend: a fake THAW for the agent, the request in flight unanswered, state READY. */
  hibernate(): void {
    const current = this.#current;
    this.#onEvent({ kind: 'hibernate', inFlight: current ? linuxOpName(current.call.code) : undefined });
    if (this.#open && !this.#outbox) {
      this.#outbox = { data: encodeLinuxRequest(LinuxVssOp.THAW), onRead: undefined, code: LinuxVssOp.THAW };
      this.#onReadable();
    }
    if (current) {
      current.timer.cancel();
      this.#current = undefined;
      this.#finish(current.call, { result: 'unanswered', status: '', reason: 'hibernated', flags: current.call.flags }, current);
    }
    if (this.#state !== 'device-init') this.#state = 'ready';
  }

  /** hv_vss_onchannelcallback: takes host messages while no transaction runs. */
  #drainChannel(): void {
    while (!this.#current && this.#channel.length > 0) {
      this.#handle(this.#channel.shift()!);
    }
  }

  /** vss_handle_request + vss_send_op. */
  #handle(call: HostCall): void {
    const name = linuxOpName(call.code);
    if (!AGENT_OPS.has(call.code)) {
      // The kernel answers GET_DM_INFO (flags 0) and the rest itself.
      this.#finish(call, { result: 'success', status: hex(HV_S_OK), reason: 'kernel', flags: call.code === LinuxVssOp.GET_DM_INFO ? 0 : call.flags });
      return;
    }
    if (this.#state === 'device-init' || !this.#open) {
      this.#finish(call, { result: 'fail', status: hex(HV_E_FAIL), reason: 'not-registered', flags: call.flags });
      return;
    }
    const limit = linuxLimitFor(call.code, this.limits);
    const now = this.#clock.now();
    const transaction: Transaction = { call, expiresAt: now + limit, timer: this.#clock.setTimer(limit, () => this.#timeout(transaction)) };
    this.#current = transaction;
    this.#state = 'userspace-req';
    if (this.#outbox) {
      // hvutil_transport_send: "Previous message wasn't received" (-EFAULT): fail at once.
      this.#respond(HV_E_FAIL, 'outbox-full');
      this.#state = 'ready';
      return;
    }
    this.#outbox = { data: encodeLinuxRequest(call.code), onRead: undefined, code: call.code };
    this.#onEvent({ kind: 'queued', op: name, code: call.code });
    this.#onReadable();
  }

  /** vss_timeout_func: HV_E_FAIL to the host; an unread request stays in the outbox. */
  #timeout(transaction: Transaction): void {
    if (this.#current !== transaction) return;
    this.#lastExpiry = this.#clock.now();
    this.#respond(HV_E_FAIL, 'timeout');
    this.#state = 'ready';
    this.#drainChannel();
  }

  /** vss_respond_to_host for the transaction in flight. */
  #respond(status: number, reason: string, flags?: number): void {
    const current = this.#current;
    if (!current) return;
    current.timer.cancel();
    this.#current = undefined;
    this.#finish(current.call, { result: status === HV_S_OK ? 'success' : 'fail', status: hex(status), reason, flags: flags ?? current.call.flags }, current);
  }

  #finish(call: HostCall, outcome: Pick<LinuxHostResult, 'result' | 'status' | 'reason' | 'flags'>, transaction?: Transaction): void {
    const now = this.#clock.now();
    const result: LinuxHostResult = {
      op: linuxOpName(call.code),
      code: call.code,
      ...outcome,
      totalMs: now - call.sentAt,
      ...(transaction?.readAt === undefined ? {} : { readMs: transaction.readAt - call.sentAt }),
      ...(outcome.reason === 'ok' || outcome.reason === 'agent-failed' ? { answeredMs: now - call.sentAt } : {}),
    };
    this.#onEvent({ kind: 'host-result', result });
    call.resolve(result);
  }
}
