// LinuxVssDevice: one registered agent on Linux's /dev/vmbus/hv_vss, with the same shape as
// VssDevice (RequestChannel), so the VssAgent serves either. Linux's channel is read(2)/write(2)
// of a 12-byte struct hv_vss_msg, after a handshake (docs/protocol.md, "Linux guests"):
//
//   open O_RDWR -> write {operation = REGISTER1} -> read the bare 4-byte reply (129)
//   then, per request: poll -> read 12 bytes -> ... -> write the message back with `error` set
//
// The wait is poll(2) over the device and a wake-up pipe, as in VssDevice (wakeable-poll.ts),
// and read(2) is only called once poll says a message is queued: hvt_op_read blocks even with
// O_NONBLOCK, and a read blocked in the kernel would keep close() from waking it.
//
// A failed read or write (the kernel refused a late answer with EINVAL, a hibernation reset the
// channel) makes the next wait close the device, open it again and register again, as
// hv_vss_daemon does ("goto reopen_vss_fd"). Thawing what the refused answer left frozen is the
// agent's business (an undelivered FREEZE success is rolled back at once).
import * as libc from './libc.ts';
import { ERRNO } from './platform.ts';
import { SyscallError } from './errors.ts';
import { WakeablePoll } from './wakeable-poll.ts';
import { closeDevice } from './close-device.ts';
import { VssDeviceError, type AnswerReceipt, type DeviceEvent, type RequestChannel, type VssRequest } from './vss-device.ts';
import {
  HANDSHAKE_REPLY_SIZE,
  HV_E_FAIL,
  HV_S_OK,
  LINUX_KERNEL_LIMITS,
  LINUX_MESSAGE_SIZE,
  LinuxVssOp,
  encodeLinuxAnswer,
  encodeRegister,
  linuxLimitFor,
  linuxOpFromCode,
  type LinuxKernelLimits,
} from '../protocol/linux-vss.ts';
import { systemClock, type Clock } from '../util/clock.ts';
import { codeFromOp, type VssOp } from '../protocol/hv-vss.ts';

/** How the agent's requests map onto Linux's: HOT_BACKUP is the hooks' CHECK. */
const AGENT_OP: Readonly<Record<string, VssOp>> = { 'hot-backup': 'check', freeze: 'freeze', thaw: 'thaw' };

/** The handshake's reply comes at once (vss_handle_handshake queues it in the write): this is generous. */
const HANDSHAKE_WAIT_MS = 5_000;
/** How long a re-open waits for the previous descriptor's release (see #reopen). */
const REOPEN_BUSY_MS = 1_000;

export type LinuxDeviceEvent = DeviceEvent | { readonly kind: 'reregistered'; readonly why: string } | { readonly kind: 'registered'; readonly version: number };

export interface LinuxVssDeviceOptions {
  readonly clock?: Clock;
  /** The kernel's limits (FREEZE 900 s, the others 30 s); an emulator with shorter ones passes them. */
  readonly limits?: LinuxKernelLimits;
  /** The agent answers a FREEZE within this long after reading it; the others within `answerWithinMs`. */
  readonly freezeAnswerWithinMs?: number;
  readonly answerWithinMs?: number;
  readonly onEvent?: (event: LinuxDeviceEvent) => void;
}

export function linuxBusyMessage(path: string): string {
  return (
    `${path} is busy: another VSS agent has it open, and the kernel allows only one. It is most likely the ` +
    `distribution's hv_vss_daemon (no hooks): stop and disable it with "systemctl disable --now hv-vss-daemon.service" ` +
    `(Debian, Ubuntu: package hyperv-daemons or linux-cloud-tools) or "systemctl disable --now hypervvssd.service" ` +
    `(RHEL, Fedora, SUSE: package hyperv-daemons), then start hvvss again. Find the holder with "fuser -v ${path}".`
  );
}

function explainOpenFailure(path: string, err: SyscallError): VssDeviceError {
  switch (err.code) {
    case 'EBUSY':
      return new VssDeviceError(err.code, path, linuxBusyMessage(path), err);
    case 'ENOENT':
      return new VssDeviceError(err.code, path,
        `${path} does not exist: the hv_utils driver has not created it (not a Hyper-V guest, hv_utils not loaded, or the ` +
        `VM's "Backup (volume shadow copy)" integration service is off). Check with "ls -l ${path}" and "lsmod | grep hv_utils"; ` +
        `to test without Hyper-V, point --device (HVVSS_DEVICE) at an emulated device.`, err);
    case 'EACCES':
    case 'EPERM':
      return new VssDeviceError(err.code, path, `permission denied opening ${path}: it is root's (0600). Run hvvss as root.`, err);
    case 'EBADF':
      return new VssDeviceError(err.code, path, `${path}: the hv_utils driver is being unloaded (EBADF); start hvvss again once it is back.`, err);
    default:
      return new VssDeviceError(err.code, path, `cannot open ${path}: ${err.message}`, err);
  }
}

export class LinuxVssDevice implements RequestChannel {
  readonly path: string;
  #fd: number;
  readonly #poll: WakeablePoll;
  readonly #clock: Clock;
  readonly #limits: LinuxKernelLimits;
  readonly #freezeWithinMs: number | undefined;
  readonly #otherWithinMs: number | undefined;
  readonly #onEvent: (event: LinuxDeviceEvent) => void;
  /** The 12 bytes each request was read as: the answer is written over them. */
  readonly #raw = new WeakMap<VssRequest, Buffer>();
  /** Set by a failed read or write: the next wait re-opens and re-registers first. */
  #reset: string | undefined;
  #sequence = 0n;
  /** The kernel's handshake reply (129 for REGISTER1). */
  kernelVersion = 0;

  private constructor(path: string, fd: number, options: LinuxVssDeviceOptions) {
    this.path = path;
    this.#fd = fd;
    this.#clock = options.clock ?? systemClock;
    this.#limits = options.limits ?? LINUX_KERNEL_LIMITS;
    this.#freezeWithinMs = options.freezeAnswerWithinMs;
    this.#otherWithinMs = options.answerWithinMs;
    this.#onEvent = options.onEvent ?? (() => {});
    this.#poll = new WakeablePoll(this.#clock, (code) => this.#onEvent({ kind: 'poll-retry', code }));
  }

  /** Opens the device (close-on-exec: hooks must not inherit it) and registers with REGISTER1. */
  static async open(path: string, options: LinuxVssDeviceOptions = {}): Promise<LinuxVssDevice> {
    const fd = LinuxVssDevice.#openFd(path);
    let device: LinuxVssDevice;
    try {
      device = new LinuxVssDevice(path, fd, options);
    } catch (err) {
      libc.close(fd, path);
      throw err;
    }
    try {
      await device.#register();
    } catch (err) {
      await device.close();
      throw err;
    }
    return device;
  }

  static #openFd(path: string): number {
    try {
      return libc.open(path, libc.facts.O_RDWR | libc.facts.O_CLOEXEC);
    } catch (err) {
      throw err instanceof SyscallError ? explainOpenFailure(path, err) : err;
    }
  }

  /** The shorter limit, for messages that name "the kernel's limit". */
  get kernelTimeoutMs(): number {
    return Math.min(this.#limits.otherMs, this.#limits.freezeMs);
  }

  /** write {REGISTER1}, then read the 4-byte reply: the channel is ready once it is read. */
  async #register(): Promise<void> {
    try {
      libc.write(this.#fd, encodeRegister(), this.path);
    } catch (err) {
      throw err instanceof SyscallError ? this.#failure(err, 'registration') : err;
    }
    const ready = await this.#wait(HANDSHAKE_WAIT_MS);
    if (ready === 'closing') throw new VssDeviceError('ECANCELED', this.path, `${this.path}: closed during registration`);
    if (ready === 'timeout') {
      throw new VssDeviceError('ETIMEDOUT', this.path,
        `${this.path}: no reply to the registration within ${HANDSHAKE_WAIT_MS / 1000} s; this kernel's hv_vss does not speak VSS_OP_REGISTER1`);
    }
    const buf = Buffer.alloc(LINUX_MESSAGE_SIZE);
    const n = this.#readInto(buf);
    if (n !== HANDSHAKE_REPLY_SIZE) {
      throw new VssDeviceError('EPROTO', this.path, `${this.path}: the registration reply is ${n} bytes, not ${HANDSHAKE_REPLY_SIZE} (invalid version negotiation)`);
    }
    // vss_handle_handshake always replies VSS_OP_REGISTER1; another value is only reported.
    this.kernelVersion = buf.readUInt32LE(0);
    this.#onEvent({ kind: 'registered', version: this.kernelVersion });
  }

  /**
   * Polls the device and the wake-up pipe: 'ready' when a message is queued, 'closing' after
   * close(), 'timeout' after `timeoutMs` (-1: none).
   */
  async #wait(timeoutMs: number): Promise<'ready' | 'closing' | 'timeout'> {
    let ready;
    try {
      ready = await this.#poll.wait(this.#fd, this.path, timeoutMs);
    } catch (err) {
      throw err instanceof SyscallError ? this.#failure(err, 'poll') : err;
    }
    if (ready === 'invalid') throw new VssDeviceError('EBADF', this.path, `${this.path}: poll reports the descriptor as invalid (POLLNVAL)`);
    // EPOLLERR|EPOLLHUP count as ready: the driver is being destroyed (hvt_op_poll); the read says EBADF.
    return ready;
  }

  /** read(2) once poll said a message is queued; the byte count. */
  #readInto(buf: Buffer): number {
    try {
      return libc.read(this.#fd, buf, this.path);
    } catch (err) {
      throw err instanceof SyscallError ? this.#failure(err, 'read') : err;
    }
  }

  /**
   * Waits for the next request. Resolves null once close() has been called. A read that fails
   * (EAGAIN after a wake-up with nothing queued, EINTR) is retried; a read of the wrong size
   * re-registers, as hv_vss_daemon does.
   */
  async nextRequest(): Promise<VssRequest | null> {
    for (;;) {
      if (this.#reset !== undefined) await this.#reregister(this.#reset);
      const ready = await this.#wait(-1);
      if (ready !== 'ready') return null;
      const buf = Buffer.alloc(LINUX_MESSAGE_SIZE);
      let n: number;
      try {
        n = libc.read(this.#fd, buf, this.path);
      } catch (err) {
        if (err instanceof SyscallError && (err.code === 'EAGAIN' || err.code === 'EINTR')) continue;
        if (err instanceof SyscallError && err.code !== 'EBADF' && err.code !== 'ENOTCONN' && err.code !== 'ENODEV') {
          this.#reset = `read failed (${err.code})`;
          continue;
        }
        throw err instanceof SyscallError ? this.#failure(err, 'read') : err;
      }
      if (n !== LINUX_MESSAGE_SIZE) {
        this.#reset = `read returned ${n} bytes, not ${LINUX_MESSAGE_SIZE}`;
        continue;
      }
      return this.#request(buf);
    }
  }

  #request(buf: Buffer): VssRequest {
    const readAt = this.#clock.now();
    const readAtWall = this.#clock.wallNow();
    const code = buf.readUInt8(0);
    const linuxOp = linuxOpFromCode(code);
    const agentOp = linuxOp ? AGENT_OP[linuxOp] : undefined;
    // Linux's messages carry no id: the read's wall time in ns, made unique by a sequence.
    this.#sequence += 1n;
    const msgid = BigInt(readAtWall.getTime()) * 1_000_000n + (this.#sequence % 1_000_000n);
    const nonZero = buf.subarray(1, 8).findIndex((b) => b !== 0);
    const within = code === LinuxVssOp.FREEZE ? this.#freezeWithinMs : this.#otherWithinMs;
    const request: VssRequest = {
      // The agent names and logs requests by hv_vss(4)'s codes (check 1, freeze 2, thaw 3): the
      // Linux op is translated; the raw message, kept in #raw, is what the answer is written over.
      // Ops the kernel never hands to an agent keep a code no hv_vss(4) op has (256 + the byte).
      opt: agentOp ? codeFromOp(agentOp) : 256 + code,
      op: agentOp,
      msgid,
      msgidText: msgid.toString(10),
      readAt,
      readAtWall,
      malformed: nonZero === -1 ? undefined : `reserved byte ${nonZero + 1} is ${buf[nonZero + 1]}, not zero`,
      ...(within === undefined ? {} : { answerWithinMs: within }),
      kernelLimitMs: linuxLimitFor(code, this.#limits),
    };
    this.#raw.set(request, buf);
    return request;
  }

  /**
   * Writes the message back with `error` = HV_S_OK or HV_E_FAIL. The kernel refuses an answer
   * it no longer waits for (EINVAL): that throws, and the next wait re-registers.
   */
  answer(request: VssRequest, status: 'success' | 'fail'): AnswerReceipt {
    const raw = this.#raw.get(request) ?? Buffer.alloc(LINUX_MESSAGE_SIZE);
    const buf = encodeLinuxAnswer(raw, status === 'success' ? HV_S_OK : HV_E_FAIL);
    const elapsedMs = this.#clock.now() - request.readAt;
    try {
      const n = libc.write(this.#fd, buf, this.path);
      if (n !== LINUX_MESSAGE_SIZE) throw new SyscallError('write', ERRNO.EIO!, this.path, `${n} bytes written, not ${LINUX_MESSAGE_SIZE}`);
    } catch (err) {
      if (!(err instanceof SyscallError)) throw err;
      this.#reset = `the answer was refused (${err.code})`;
      if (err.code === 'EINVAL') {
        const limit = linuxLimitFor(raw.readUInt8(0), this.#limits);
        throw new VssDeviceError(err.code, this.path,
          `${this.path} refused the answer (EINVAL): the kernel no longer waits for it; it had already failed the request ` +
            `to the host (its ${limit / 1000} s limit counts from when the request was queued, ${Math.round(elapsedMs)} ms after the read here) ` +
            'or reset the channel (hibernation). Registering again.',
          err);
      }
      throw this.#failure(err, 'answer');
    }
    // Taken: the kernel was still waiting, so the answer counted.
    return { status, elapsedMs, late: false };
  }

  /** Closes and re-opens the device, then registers again (hv_vss_daemon's reopen_vss_fd). */
  async #reregister(why: string): Promise<void> {
    this.#reset = undefined;
    this.#onEvent({ kind: 'reregistered', why });
    try {
      libc.close(this.#fd, this.path);
    } catch {
      // Released all the same.
    }
    this.#fd = await this.#reopen();
    await this.#register();
  }

  /**
   * Opens the device again after closing it. A kernel releases within close(2); the emulator's
   * FUSE file gets its RELEASE asynchronously, so an EBUSY right after the close is retried
   * for a moment before it counts.
   */
  async #reopen(): Promise<number> {
    const until = this.#clock.now() + REOPEN_BUSY_MS;
    for (;;) {
      try {
        return LinuxVssDevice.#openFd(this.path);
      } catch (err) {
        if (!(err instanceof VssDeviceError && err.code === 'EBUSY') || this.#clock.now() >= until) throw err;
        await new Promise<void>((resolve) => this.#clock.setTimer(20, resolve));
      }
    }
  }

  #failure(err: SyscallError, what: string): VssDeviceError {
    const gone = err.code === 'ENOTCONN' || err.code === 'ENODEV' || err.code === 'ENXIO' || err.code === 'EBADF';
    return new VssDeviceError(err.code, this.path,
      gone ? `${this.path} went away (${what}, ${err.syscall}: ${err.code}); the hv_utils driver was unloaded or the emulator stopped` : `${what}: ${err.message}`,
      err);
  }

  /** Unregisters: wakes a pending wait, then closes the device. Safe to call more than once. */
  close(): Promise<void> {
    return this.#poll.close(() => closeDevice(this.#fd, this.path));
  }
}
