// The wait of a VSS device for its next message, shared by VssDevice (FreeBSD) and
// LinuxVssDevice: poll(2) on libuv's thread pool over two descriptors, the device and a
// wake-up pipe. Idle, it costs nothing (no periodic wake-ups); close() writes one byte to the
// pipe so a pending poll returns at once instead of pinning the process. libuv's own fd watcher
// is no option: it uses kqueue on FreeBSD, where hv_vss implements d_poll only, and on Linux a
// read(2) of hv_vss blocks even with O_NONBLOCK, so the device is read only once poll says so.
import * as libc from './libc.ts';
import { ERRNO, POLL } from './platform.ts';
import { SyscallError } from './errors.ts';
import type { Clock } from '../util/clock.ts';

/** sizeof(struct pollfd): int fd, short events, short revents. */
const POLLFD_SIZE = 8;

/**
 * ready: a message is queued (or the driver reports an error or hang-up, which the next read
 * or ioctl turns into its errno); closing: close() was called; timeout: the wait's limit
 * passed; invalid: poll says the device descriptor is not open (POLLNVAL).
 */
export type WaitOutcome = 'ready' | 'closing' | 'timeout' | 'invalid';

export class WakeablePoll {
  readonly #wakeRead: number;
  readonly #wakeWrite: number;
  readonly #clock: Clock;
  /** Interrupted polls are retried; each is worth a debug line to the device's owner. */
  readonly #onRetry: (code: 'EINTR' | 'EAGAIN') => void;
  #pending: Promise<unknown> | undefined;
  #closing = false;
  #closed = false;

  /** Makes the wake-up pipe (close-on-exec: hooks must not inherit it). */
  constructor(clock: Clock, onRetry: (code: 'EINTR' | 'EAGAIN') => void) {
    [this.#wakeRead, this.#wakeWrite] = libc.pipe();
    this.#clock = clock;
    this.#onRetry = onRetry;
  }

  get closing(): boolean {
    return this.#closing;
  }

  /**
   * Polls `fd` for reading until a message is queued, close() is called or `timeoutMs` passes
   * (-1: no limit). A failed poll throws its SyscallError; the device says what it means.
   */
  async wait(fd: number, path: string, timeoutMs: number): Promise<WaitOutcome> {
    if (this.#pending) throw new Error(`${path}: a wait is already pending`);
    const fds = Buffer.alloc(2 * POLLFD_SIZE);
    const started = timeoutMs < 0 ? 0 : this.#clock.now();
    for (;;) {
      if (this.#closing) return 'closing';
      fds.fill(0);
      fds.writeInt32LE(fd, 0);
      // FreeBSD's driver raises POLLIN only; Linux filters revents by the requested bits, so ask for both.
      fds.writeInt16LE(POLL.IN | POLL.RDNORM, 4);
      fds.writeInt32LE(this.#wakeRead, POLLFD_SIZE);
      fds.writeInt16LE(POLL.IN, POLLFD_SIZE + 4);
      const left = timeoutMs < 0 ? -1 : Math.max(0, Math.ceil(timeoutMs - (this.#clock.now() - started)));
      const pending = libc.pollAsync(fds, left);
      this.#pending = pending.catch(() => {});
      let result: libc.PollResult;
      try {
        result = await pending;
      } finally {
        this.#pending = undefined;
      }
      if (this.#closing) return 'closing';
      if (result.ready === -1) {
        if (result.errno === ERRNO.EINTR || result.errno === ERRNO.EAGAIN) {
          this.#onRetry(result.errno === ERRNO.EINTR ? 'EINTR' : 'EAGAIN');
          continue;
        }
        throw new SyscallError('poll', result.errno, path, libc.strerror(result.errno));
      }
      if (result.ready === 0) return 'timeout';
      const revents = fds.readInt16LE(6);
      if (revents & POLL.NVAL) return 'invalid';
      // POLLERR|POLLHUP: the driver is going away (Linux's hvt_op_poll); the next read says how.
      if (revents & (POLL.IN | POLL.RDNORM | POLL.ERR | POLL.HUP)) return 'ready';
    }
  }

  /**
   * Ends a pending wait (it returns 'closing') and closes the pipe; every later wait returns
   * 'closing' at once. Idempotent: `afterClose` (the owner closing its device descriptor, once no
   * poll can be using it) runs exactly once, in the call that closes.
   */
  async close(afterClose?: () => void): Promise<void> {
    if (this.#closed) return;
    this.#closing = true;
    if (this.#pending) {
      libc.write(this.#wakeWrite, Buffer.from([1]));
      await this.#pending;
    }
    if (this.#closed) return;
    this.#closed = true;
    libc.close(this.#wakeRead);
    libc.close(this.#wakeWrite);
    afterClose?.();
  }
}

