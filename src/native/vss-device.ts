// VssDevice: one registered agent on an hv_vss device (/dev/hv_appvss_dev or /dev/hv_fsvss_dev).
//
// The wait for the next request is poll(2) over the device and a wake-up pipe, so that close()
// ends it at once (wakeable-poll.ts says why it is done so).
import * as libc from './libc.ts';
import { SyscallError } from './errors.ts';
import { WakeablePoll } from './wakeable-poll.ts';
import { closeDevice } from './close-device.ts';
import { decodeMessage, encodeMessage, msgidString } from './message.ts';
import { ioctlRequest } from './ioctl.ts';
import {
  IOCTL_GROUP,
  IOCTL_READ_NR,
  IOCTL_WRITE_NR,
  KERNEL_TIMEOUT_MS,
  MESSAGE_SIZE,
  VSS_FAIL,
  VSS_SUCCESS,
  opFromCode,
  type VssOp,
} from '../protocol/hv-vss.ts';
import { systemClock, type Clock } from '../util/clock.ts';

export const IOCHVVSSREAD = ioctlRequest(libc.facts.os, 'read', IOCTL_GROUP, IOCTL_READ_NR, MESSAGE_SIZE);
export const IOCHVVSSWRITE = ioctlRequest(libc.facts.os, 'write', IOCTL_GROUP, IOCTL_WRITE_NR, MESSAGE_SIZE);

/** A request read from the device, with the moment it was read (the agent's own clock starts there). */
export interface VssRequest {
  readonly opt: number;
  /** undefined when the kernel sent an operation this agent does not know (answer it VSS_FAIL). */
  readonly op: VssOp | undefined;
  readonly msgid: bigint;
  readonly msgidText: string;
  /** Monotonic ms (Clock.now) when the request was read. */
  readonly readAt: number;
  readonly readAtWall: Date;
  /** Non-zero reserved bytes: the message is malformed (it is still answered). */
  readonly malformed: string | undefined;
  /**
   * The agent answers within this long after the read, when the channel says so per request
   * (Linux: FREEZE has its own limit); otherwise the agent's --timeout.
   */
  readonly answerWithinMs?: number;
  /** The kernel's limit for this request, when it depends on the op (Linux); otherwise the channel's kernelTimeoutMs. */
  readonly kernelLimitMs?: number;
}

export interface AnswerReceipt {
  readonly status: 'success' | 'fail';
  /** Milliseconds from reading the request to writing the answer. */
  readonly elapsedMs: number;
  /**
   * True when the answer went out at or after the kernel's limit, counted from the read. The
   * kernel started its clock earlier still, so such an answer was certainly ignored; the
   * write itself cannot tell (IOCHVVSSWRITE copies nothing back).
   */
  readonly late: boolean;
}

/** What agents need from a device: VssDevice has it; unit tests give a fake. */
export interface RequestChannel {
  readonly path: string;
  readonly kernelTimeoutMs: number;
  nextRequest(): Promise<VssRequest | null>;
  answer(request: VssRequest, status: 'success' | 'fail'): AnswerReceipt;
}

export type DeviceEvent =
  | { readonly kind: 'expired-read'; readonly opt: number; readonly msgidText: string }
  | { readonly kind: 'poll-retry'; readonly code: string };

export interface VssDeviceOptions {
  readonly clock?: Clock;
  readonly kernelTimeoutMs?: number;
  /** Things worth a debug line: requests that had already expired, interrupted polls. */
  readonly onEvent?: (event: DeviceEvent) => void;
}

/** Opening or using the device failed; `message` says what happened and what to do. */
export class VssDeviceError extends Error {
  readonly code: string;
  readonly path: string;
  override readonly cause: SyscallError | undefined;

  constructor(code: string, path: string, message: string, cause?: SyscallError) {
    super(message);
    this.name = 'VssDeviceError';
    this.code = code;
    this.path = path;
    this.cause = cause;
  }
}

function explainOpenFailure(path: string, err: SyscallError): VssDeviceError {
  switch (err.code) {
    case 'ENOENT':
      return new VssDeviceError(err.code, path,
        `${path} does not exist: the hv_vss(4) driver is not present (not a Hyper-V guest, or the VSS ` +
        `integration service is off). Check with "ls -l ${path}"; to test without Hyper-V, point --device ` +
        `or HVVSS_DEVICE at an emulated device.`, err);
    case 'EBUSY':
      return new VssDeviceError(err.code, path,
        `${path} is busy: another application agent has it open, and the kernel allows only one. ` +
        `Stop that agent first (find it with "fstat ${path}" on FreeBSD, "fuser ${path}" on Linux; ` +
        `"service hvvss stop" if it is the hvvss service).`, err);
    case 'EACCES':
    case 'EPERM':
      return new VssDeviceError(err.code, path,
        `permission denied opening ${path}: the device is root:wheel 0640 and needs read-write access. ` +
        `Run hvvss as root.`, err);
    case 'ENXIO':
    case 'ENODEV':
      return new VssDeviceError(err.code, path,
        `${path} exists but no driver answers behind it (${err.code}). Is the hv_vss driver loaded?`, err);
    default:
      return new VssDeviceError(err.code, path, `cannot open ${path}: ${err.message}`, err);
  }
}

export class VssDevice implements RequestChannel {
  readonly path: string;
  readonly #fd: number;
  readonly #poll: WakeablePoll;
  readonly #clock: Clock;
  readonly #kernelTimeoutMs: number;
  readonly #onEvent: (event: DeviceEvent) => void;

  private constructor(path: string, fd: number, options: VssDeviceOptions) {
    this.path = path;
    this.#fd = fd;
    this.#clock = options.clock ?? systemClock;
    this.#kernelTimeoutMs = options.kernelTimeoutMs ?? KERNEL_TIMEOUT_MS;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#poll = new WakeablePoll(this.#clock, (code) => this.#onEvent({ kind: 'poll-retry', code }));
  }

  /** Registers with the kernel by opening the device read-write (close-on-exec: hooks must not inherit it). */
  static open(path: string, options: VssDeviceOptions = {}): VssDevice {
    let fd: number;
    try {
      fd = libc.open(path, libc.facts.O_RDWR | libc.facts.O_CLOEXEC);
    } catch (err) {
      throw err instanceof SyscallError ? explainOpenFailure(path, err) : err;
    }
    try {
      return new VssDevice(path, fd, options);
    } catch (err) {
      libc.close(fd, path);
      throw err;
    }
  }

  get kernelTimeoutMs(): number {
    return this.#kernelTimeoutMs;
  }

  /**
   * Waits for the next live request. Requests the kernel had already timed out (status != 0
   * on read) are skipped. Resolves null once close() has been called.
   */
  async nextRequest(): Promise<VssRequest | null> {
    for (;;) {
      let ready;
      try {
        ready = await this.#poll.wait(this.#fd, this.path, -1);
      } catch (err) {
        throw err instanceof SyscallError ? this.#failure(err) : err;
      }
      if (ready === 'invalid') {
        throw new VssDeviceError('EBADF', this.path, `${this.path}: poll reports the descriptor as invalid (POLLNVAL)`);
      }
      if (ready !== 'ready') return null;
      const request = this.#read();
      if (request) return request;
    }
  }

  #read(): VssRequest | null {
    const buf = Buffer.alloc(MESSAGE_SIZE);
    try {
      libc.ioctl(this.#fd, IOCHVVSSREAD, buf, this.path);
    } catch (err) {
      throw err instanceof SyscallError ? this.#failure(err) : err;
    }
    const readAt = this.#clock.now();
    const msg = decodeMessage(buf);
    const msgidText = msgidString(msg.msgid);
    if (msg.status !== 0) {
      // Already timed out and removed by the kernel: nothing to answer.
      this.#onEvent({ kind: 'expired-read', opt: msg.opt, msgidText });
      return null;
    }
    const nonZero = msg.reserved.findIndex((b) => b !== 0);
    return {
      opt: msg.opt,
      op: opFromCode(msg.opt),
      msgid: msg.msgid,
      msgidText,
      readAt,
      readAtWall: this.#clock.wallNow(),
      malformed: nonZero === -1 ? undefined : `reserved byte ${nonZero} is ${msg.reserved[nonZero]}, not zero`,
    };
  }

  /** Writes the answer, echoing opt and msgid exactly as read and zeroing reserved. */
  answer(request: VssRequest, status: 'success' | 'fail'): AnswerReceipt {
    const buf = encodeMessage({ opt: request.opt, status: status === 'success' ? VSS_SUCCESS : VSS_FAIL, msgid: request.msgid });
    try {
      libc.ioctl(this.#fd, IOCHVVSSWRITE, buf, this.path);
    } catch (err) {
      throw err instanceof SyscallError ? this.#failure(err) : err;
    }
    const elapsedMs = this.#clock.now() - request.readAt;
    return { status, elapsedMs, late: elapsedMs >= this.#kernelTimeoutMs };
  }

  #failure(err: SyscallError): VssDeviceError {
    const gone = err.code === 'ENOTCONN' || err.code === 'ENODEV' || err.code === 'ENXIO';
    return new VssDeviceError(err.code, this.path,
      gone
        ? `${this.path} went away (${err.syscall}: ${err.code}); the driver was unloaded or the emulator stopped`
        : `${err.message}`,
      err);
  }

  /** Unregisters: wakes a pending wait, then closes the device. Safe to call more than once. */
  close(): Promise<void> {
    return this.#poll.close(() => closeDevice(this.#fd, this.path));
  }
}
