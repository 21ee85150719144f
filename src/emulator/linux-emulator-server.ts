// The emulated Linux VSS channel as a running service: a FUSE mount at DIR/dev/vmbus holding
// hv_vss, whose open/release/read/write/poll drive a LinuxVssKernel, and a control socket
// through which the "host" sends HOT_BACKUP/FREEZE/THAW and watches events. The same control
// protocol as the FreeBSD emulator (host-client.ts, host-cli.ts), with Linux's ops.
//
// Differences from Linux that FUSE cannot avoid: hv_vss is a regular file, not a misc
// character device; a read blocked in FUSE is ended by a signal through FUSE's INTERRUPT (the
// caller gets EINTR, as from hvt_op_read's wait_event_interruptible).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { constants } from 'node:os';
import { FuseServer, type FuseFileHandler } from './fuse/fuse-server.ts';
import { LinuxVssKernel, type LinuxKernelEvent } from './linux-vss-kernel.ts';
import { callerProcess } from './caller-process.ts';
import { mayOpen } from './device-permission.ts';
import { ControlSocket } from './control-socket.ts';
import { EventJournal } from './event-journal.ts';
import { POLL } from '../native/platform.ts';
import { LINUX_KERNEL_LIMITS, codeFromLinuxOp, type LinuxKernelLimits } from '../protocol/linux-vss.ts';
import { systemClock } from '../util/clock.ts';

export const LINUX_DEVICE_FILE = 'hv_vss';
/** misc_register with no mode: devtmpfs makes the node root:root 0600. */
const DEVICE_NODE = { mode: 0o600, uid: 0, gid: 0 } as const;

export interface LinuxEmulatorOptions {
  /** State directory: the mount goes to DIR/dev/vmbus, the control socket to DIR/control.sock. */
  readonly dir: string;
  readonly limits?: LinuxKernelLimits;
  readonly log?: (line: string) => void;
}

export interface LinuxEmulatorPaths {
  readonly mountpoint: string;
  readonly device: string;
  readonly control: string;
}

export function linuxEmulatorPaths(dir: string): LinuxEmulatorPaths {
  const mountpoint = join(dir, 'dev', 'vmbus');
  return { mountpoint, device: join(mountpoint, LINUX_DEVICE_FILE), control: join(dir, 'control.sock') };
}

const HOST_OPS: Readonly<Record<string, number>> = {
  'hot-backup': codeFromLinuxOp('hot-backup'),
  // host-cli's FreeBSD word: HOT_BACKUP is Linux's CHECK.
  check: codeFromLinuxOp('hot-backup'),
  freeze: codeFromLinuxOp('freeze'),
  thaw: codeFromLinuxOp('thaw'),
};

/** This emulator's own commands; control-socket.ts serves events, subscribe and shutdown. */
type ControlRequest =
  | { id: number; cmd: 'request'; op?: string; opt?: number; flags?: number }
  | { id: number; cmd: 'state' }
  | { id: number; cmd: 'hibernate' };

interface PendingRead {
  readonly unique: bigint;
  readonly fh: bigint;
  readonly size: number;
}

export class LinuxEmulatorServer {
  readonly paths: LinuxEmulatorPaths;
  readonly kernel: LinuxVssKernel;
  readonly #options: LinuxEmulatorOptions;
  readonly #events = new EventJournal<LinuxKernelEvent>(systemClock);
  readonly #control: ControlSocket<ControlRequest, LinuxKernelEvent>;
  readonly #pollWaiters = new Set<bigint>();
  /** Reads blocked until a message is queued (hvt_op_read's wait), oldest first. */
  readonly #pendingReads: PendingRead[] = [];
  #openFh: bigint | undefined;
  #nextFh = 1n;
  #fuse: FuseServer | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: LinuxEmulatorOptions) {
    this.#options = options;
    this.paths = linuxEmulatorPaths(options.dir);
    this.#control = new ControlSocket({
      path: this.paths.control,
      journal: this.#events,
      answer: (request) => this.#answer(request),
      shutdown: () => void this.stop().then(() => process.exit(0)),
    });
    this.kernel = new LinuxVssKernel({
      clock: systemClock,
      limits: options.limits ?? LINUX_KERNEL_LIMITS,
      onReadable: () => this.#wake(),
      onEvent: (event) => this.#record(event),
    });
  }

  async start(): Promise<void> {
    mkdirSync(this.#options.dir, { recursive: true });
    this.#fuse = await FuseServer.mount({
      mountpoint: this.paths.mountpoint,
      fsName: 'hvvss-emulator-linux',
      files: [{ name: LINUX_DEVICE_FILE, ...DEVICE_NODE }],
      handler: this.#handler(),
      onError: (err: unknown) => this.#say(`FUSE handler error: ${err instanceof Error ? err.stack : String(err)}`),
    });
    await this.#control.listen();
  }

  #say(line: string): void {
    this.#options.log?.(line);
  }

  #handler(): FuseFileHandler {
    const E = constants.errno;
    return {
      open: (file, ctx) => {
        if (file !== LINUX_DEVICE_FILE) return { errno: E.ENOENT };
        const caller = callerProcess(ctx.pid);
        if (!mayOpen(DEVICE_NODE, { uid: ctx.uid, gid: ctx.gid, groups: caller?.groups ?? [] }, ctx.flags)) return { errno: E.EACCES };
        if (this.kernel.open(caller?.pid ?? ctx.pid) !== 0) return { errno: E.EBUSY };
        const fh = this.#nextFh++;
        this.#openFh = fh;
        return { fh };
      },
      release: (_file, fh) => {
        if (this.#openFh !== fh) return;
        this.#openFh = undefined;
        this.#pollWaiters.clear();
        this.kernel.release();
      },
      read: (_file, ctx, size, unique) => {
        if (ctx.fh !== this.#openFh) return { errno: E.EBADF };
        const got = this.kernel.read(size);
        if (got === 'EINVAL') return { errno: E.EINVAL };
        if (got === 'empty') {
          // Blocks even with O_NONBLOCK, as hvt_op_read does.
          this.#pendingReads.push({ unique, fh: ctx.fh, size });
          return { pending: true };
        }
        return { data: got };
      },
      write: (_file, ctx, data) => {
        if (ctx.fh !== this.#openFh) return { errno: E.EBADF };
        const written = this.kernel.write(data);
        return typeof written === 'number' ? { written } : { errno: E[written] };
      },
      interrupt: (unique) => {
        const i = this.#pendingReads.findIndex((r) => r.unique === unique);
        if (i === -1) return;
        this.#pendingReads.splice(i, 1);
        this.#fuse?.replyRead(unique, { errno: E.EINTR });
      },
      ioctl: () => ({ errno: E.ENOTTY }), // hvt's fops have no ioctl
      poll: (_file, _ctx, _events, kh) => {
        if (this.kernel.readable()) return POLL.IN | POLL.RDNORM;
        if (kh !== null) this.#pollWaiters.add(kh);
        return 0;
      },
    };
  }

  /** A message was queued: the oldest blocked read takes it, then pollers are woken. */
  #wake(): void {
    while (this.#pendingReads.length > 0 && this.kernel.readable()) {
      const read = this.#pendingReads.shift()!;
      if (read.fh !== this.#openFh) {
        this.#fuse?.replyRead(read.unique, { errno: constants.errno.EBADF });
        continue;
      }
      const got = this.kernel.read(read.size);
      if (got === 'empty') {
        this.#pendingReads.unshift(read);
        break;
      }
      this.#fuse?.replyRead(read.unique, got === 'EINVAL' ? { errno: constants.errno.EINVAL } : got);
    }
    const waiters = [...this.#pollWaiters];
    this.#pollWaiters.clear();
    for (const kh of waiters) this.#fuse?.notifyPoll(kh);
  }

  #record(event: LinuxKernelEvent): void {
    this.#events.record(event);
    if (event.kind === 'host-result') {
      const r = event.result;
      this.#say(`host ${r.op}: ${r.result} (${r.reason}, status ${r.status}, flags ${r.flags}) in ${r.totalMs.toFixed(1)} ms`);
    } else if (event.kind === 'refused-write') {
      this.#say(`write refused with ${event.errno}: ${event.why}${event.lateByMs === undefined ? '' : ` (${event.lateByMs} ms after the last timeout)`}`);
    } else if (event.kind === 'violation') {
      this.#say(`PROTOCOL VIOLATION: ${event.what}`);
    } else if (event.kind === 'release' && event.inFlight) {
      this.#say(`closed with ${event.inFlight} in flight: the host gets HV_E_FAIL now`);
    }
  }

  async #answer(request: ControlRequest): Promise<object> {
    switch (request.cmd) {
      case 'request': {
        const code = request.op !== undefined ? HOST_OPS[request.op] : request.opt;
        if (code === undefined) throw new Error(`request needs op (${Object.keys(HOST_OPS).join(', ')}) or opt`);
        return { result: await this.kernel.hostRequest(code, request.flags ?? 0) };
      }
      case 'state':
        return {
          protocol: 'linux',
          opened: this.kernel.opened,
          state: this.kernel.state,
          limits: this.kernel.limits,
          device: this.paths.device,
        };
      case 'hibernate':
        this.kernel.hibernate();
        return { ok: true };
      default:
        throw new Error(`unknown command ${JSON.stringify((request as { cmd: unknown }).cmd)}`);
    }
  }

  /** Closes the control socket and unmounts (blocked reads end with ENOTCONN). Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#control.close();
      await this.#fuse?.unmount();
    })();
    return this.#stopping;
  }
}
