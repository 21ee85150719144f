// The emulated hv_vss kernel as a running service: a FUSE mount holding hv_appvss_dev and
// hv_fsvss_dev whose open/release/poll/ioctl drive a VssKernel, a stand-in fs daemon process,
// and a control socket through which the "host" sends CHECK/FREEZE/THAW and watches events.
//
// Differences from FreeBSD that FUSE cannot avoid: the devices are regular files (not
// character devices), the ioctl numbers are the Linux encodings, and release carries no pid.
// What a driver learns from the kernel and FUSE does not pass on (the caller's process, its
// supplementary groups) comes from /proc (caller-process.ts).
//
// Beside them, FreeBSD's ufssuspend (ufs-suspend.ts): UFSSUSPEND/UFSRESUME with ffs_suspend.c's
// rules, a real FIFREEZE/FITHAW behind them on the loop mounts given with --ufs-allow only.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants } from 'node:os';
import { FuseServer, type FuseFileHandler } from './fuse/fuse-server.ts';
import { VssKernel, type KernelEvent, type Side } from './vss-kernel.ts';
import { callerProcess, stillRunning, type CallerProcess } from './caller-process.ts';
import { mayOpen } from './device-permission.ts';
import { ControlSocket } from './control-socket.ts';
import { EventJournal } from './event-journal.ts';
import { allowedMounts, mountPText, UfsSuspendDevice, UFSSUSPEND_NODE, type UfsEvent } from './ufs-suspend.ts';
import { decodeMessage, encodeMessage } from '../native/message.ts';
import { ioctlRequest } from '../native/ioctl.ts';
import { POLL } from '../native/platform.ts';
import { IOCTL_GROUP, IOCTL_READ_NR, IOCTL_WRITE_NR, MESSAGE_SIZE, type VssOp } from '../protocol/hv-vss.ts';
import { systemClock } from '../util/clock.ts';
import type { FsDaemonMode } from './fs-daemon-standin.ts';

// The kernel FUSE forwards Linux-encoded requests, whatever OS the agent was written for.
const READ = ioctlRequest('linux', 'read', IOCTL_GROUP, IOCTL_READ_NR, MESSAGE_SIZE);
const WRITE = ioctlRequest('linux', 'write', IOCTL_GROUP, IOCTL_WRITE_NR, MESSAGE_SIZE);

export const DEVICE_FILES: Record<Side, string> = { app: 'hv_appvss_dev', fs: 'hv_fsvss_dev' };
const SIDE_OF: Record<string, Side> = { hv_appvss_dev: 'app', hv_fsvss_dev: 'fs' };
/** make_dev_p(..., UID_ROOT, GID_WHEEL, 0640, ...) in hv_vss_attach. */
const DEVICE_NODE = { mode: 0o640, uid: 0, gid: 0 } as const;

export interface EmulatorOptions {
  /** State directory: the mount goes to DIR/dev, the control socket to DIR/control.sock. */
  readonly dir: string;
  readonly timeoutMs: number;
  /** How long the emulated host waits for a reply (default: twice timeoutMs). */
  readonly hostWaitMs?: number;
  /** The stand-in fs daemon's behaviour, or 'none' to leave hv_fsvss_dev unregistered. */
  readonly fsDaemon: FsDaemonMode | 'none';
  /** Loop mounts that /dev/ufssuspend treats as UFS (--ufs-allow): the only ones it can freeze. */
  readonly ufsAllow?: readonly string[];
  readonly log?: (line: string) => void;
}

export interface EmulatorPaths {
  readonly mountpoint: string;
  readonly appDevice: string;
  readonly fsDevice: string;
  /** FreeBSD's /dev/ufssuspend. */
  readonly ufsSuspend: string;
  /** What FreeBSD's `mount -p` would print for the --ufs-allow mounts (HVVSS_FREEBSD_MOUNT_TABLE). */
  readonly mountTable: string;
  readonly control: string;
}

export function emulatorPaths(dir: string): EmulatorPaths {
  const mountpoint = join(dir, 'dev');
  return {
    mountpoint,
    appDevice: join(mountpoint, DEVICE_FILES.app),
    fsDevice: join(mountpoint, DEVICE_FILES.fs),
    ufsSuspend: join(mountpoint, UFSSUSPEND_NODE.name),
    mountTable: join(dir, 'mount-p'),
    control: join(dir, 'control.sock'),
  };
}

/** This emulator's own commands; control-socket.ts serves events, subscribe and shutdown. */
type ControlRequest =
  | { id: number; cmd: 'request'; op?: VssOp; opt?: number }
  | { id: number; cmd: 'state' }
  | { id: number; cmd: 'fs-daemon'; mode: FsDaemonMode | 'stop' }
  | { id: number; cmd: 'detach' };

type EmulatorEvent = KernelEvent | UfsEvent;

export class EmulatorServer {
  readonly paths: EmulatorPaths;
  readonly kernel: VssKernel;
  readonly #options: EmulatorOptions;
  readonly #events = new EventJournal<EmulatorEvent>(systemClock);
  readonly #control: ControlSocket<ControlRequest, EmulatorEvent>;
  readonly #pollWaiters: Record<Side, Set<bigint>> = { app: new Set(), fs: new Set() };
  /** The fh of the registered opener per side (release of another fh is not an unregister). */
  readonly #openFh: Record<Side, bigint | undefined> = { app: undefined, fs: undefined };
  /** The process behind each side's last open (FreeBSD's proc_task): what detach kills. */
  readonly #lastOpener: Record<Side, CallerProcess | undefined> = { app: undefined, fs: undefined };
  #nextFh = 1n;
  #ufs: UfsSuspendDevice | undefined;
  #fuse: FuseServer | undefined;
  #fsDaemon: { child: ChildProcess; mode: FsDaemonMode } | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: EmulatorOptions) {
    this.#options = options;
    this.paths = emulatorPaths(options.dir);
    this.#control = new ControlSocket({
      path: this.paths.control,
      journal: this.#events,
      answer: (request) => this.#answer(request),
      shutdown: () => void this.stop().then(() => process.exit(0)),
    });
    this.kernel = new VssKernel({
      clock: systemClock,
      timeoutMs: options.timeoutMs,
      ...(options.hostWaitMs === undefined ? {} : { hostWaitMs: options.hostWaitMs }),
      onReadable: (side) => this.#wake(side),
      onEvent: (event) => this.#record(event),
    });
  }

  async start(): Promise<void> {
    mkdirSync(this.#options.dir, { recursive: true });
    // Checked before anything is mounted: a refused allow-list entry starts nothing.
    const mounts = allowedMounts(this.#options.ufsAllow ?? []);
    this.#ufs = new UfsSuspendDevice({
      mounts,
      calls: await import('../native/fs-freeze.ts'),
      record: (event) => this.#record(event),
      say: (line) => this.#say(line),
    });
    writeFileSync(this.paths.mountTable, mountPText(mounts));
    this.#fuse = await FuseServer.mount({
      mountpoint: this.paths.mountpoint,
      fsName: 'hvvss-emulator',
      files: [...Object.values(DEVICE_FILES).map((name) => ({ name, ...DEVICE_NODE })), UFSSUSPEND_NODE],
      handler: this.#handler(),
      onError: (err: unknown) => this.#say(`FUSE handler error: ${err instanceof Error ? err.stack : String(err)}`),
    });
    await this.#control.listen();
    if (this.#options.fsDaemon !== 'none') await this.startFsDaemon(this.#options.fsDaemon);
  }

  #say(line: string): void {
    this.#options.log?.(line);
  }

  #handler(): FuseFileHandler {
    return {
      open: (file, ctx) => {
        if (file === UFSSUSPEND_NODE.name) return this.#openUfs(ctx);
        const side = SIDE_OF[file];
        if (!side || this.kernel.detached) return { errno: constants.errno.ENOENT };
        const caller = callerProcess(ctx.pid);
        if (!mayOpen(DEVICE_NODE, { uid: ctx.uid, gid: ctx.gid, groups: caller?.groups ?? [] }, ctx.flags)) {
          return { errno: constants.errno.EACCES };
        }
        const opened = this.kernel.open(side, caller?.pid ?? ctx.pid);
        if (opened !== 0) return { errno: constants.errno[opened] };
        const fh = this.#nextFh++;
        this.#openFh[side] = fh;
        this.#lastOpener[side] = caller;
        return { fh };
      },
      release: (file, fh) => {
        if (file === UFSSUSPEND_NODE.name) return void this.#ufs?.release(fh);
        const side = SIDE_OF[file];
        if (!side || this.#openFh[side] !== fh) return;
        this.#openFh[side] = undefined;
        this.#pollWaiters[side].clear();
        this.kernel.release(side);
      },
      ioctl: (file, ctx, cmd, input, outSize) => {
        if (file === UFSSUSPEND_NODE.name) return this.#ufs?.ioctl(ctx.fh, ctx.pid, cmd, input) ?? { errno: constants.errno.ENXIO };
        const side = SIDE_OF[file];
        if (!side) return { errno: constants.errno.ENOTTY };
        // A destroyed cdev answers every call on a descriptor still open with ENXIO.
        if (this.kernel.detached) return { errno: constants.errno.ENXIO };
        if (cmd === READ && outSize === MESSAGE_SIZE) {
          return { result: 0, output: encodeMessage(this.kernel.read(side)) };
        }
        if (cmd === WRITE && input.length === MESSAGE_SIZE) {
          this.kernel.write(side, decodeMessage(input));
          // _IOW: nothing is copied back; the caller cannot learn whether the answer counted.
          return { result: 0 };
        }
        // The driver's switch has no default case: any other request returns 0, and the
        // generic ioctl code hands back the zeroed buffer of an _IOR request.
        this.#record({ kind: 'violation', side, what: `unknown ioctl request 0x${(cmd >>> 0).toString(16)} (returns 0, as on FreeBSD)` });
        return { result: 0, output: Buffer.alloc(outSize) };
      },
      poll: (file, _ctx, events, kh) => {
        // No d_poll in ffs_susp_cdevsw: devfs's no_poll says ready for reading and writing.
        if (file === UFSSUSPEND_NODE.name) return events & (POLL.IN | POLL.OUT | POLL.RDNORM);
        const side = SIDE_OF[file];
        if (!side) return 0;
        if (this.kernel.detached) return POLL.IN; // wake the caller: its next ioctl gets ENXIO
        // The driver reports POLLIN only (never POLLRDNORM); Linux then filters by the asked bits.
        if (this.kernel.readable(side)) return POLL.IN;
        if (kh !== null) this.#pollWaiters[side].add(kh);
        return 0;
      },
    };
  }

  /** devfs's check against root:wheel 0600, then ffs_susp_open, which checks nothing. */
  #openUfs(ctx: { readonly pid: number; readonly uid: number; readonly gid: number; readonly flags: number }): { fh: bigint } | { errno: number } {
    const caller = callerProcess(ctx.pid);
    if (!mayOpen(UFSSUSPEND_NODE, { uid: ctx.uid, gid: ctx.gid, groups: caller?.groups ?? [] }, ctx.flags)) return { errno: constants.errno.EACCES };
    const fh = this.#nextFh++;
    this.#ufs?.open(fh);
    return { fh };
  }

  /**
   * hv_vss_detach: SIGKILL to the last opener of each device (proc_task is never cleared, so
   * that may be a process that closed the device long ago), queued requests freed with no reply
   * to the host, device nodes destroyed. The emulator keeps serving its control socket.
   */
  detach(): KernelEvent & { kind: 'detach' } {
    // A driver detaches once; the processes recorded then must not be signalled twice.
    if (this.kernel.detached) return { kind: 'detach', killed: [], notKilled: [] };
    const killed: Array<{ side: Side; pid: number }> = [];
    const notKilled: Array<{ side: Side; pid: number; why: string }> = [];
    for (const side of ['fs', 'app'] as const) {
      const opener = this.#lastOpener[side];
      if (!opener) continue;
      if (!stillRunning(opener)) {
        // FreeBSD would signal a stale proc pointer here; nothing sensible to emulate.
        notKilled.push({ side, pid: opener.pid, why: 'exited already' });
        continue;
      }
      try {
        process.kill(opener.pid, 'SIGKILL');
        killed.push({ side, pid: opener.pid });
      } catch (err) {
        notKilled.push({ side, pid: opener.pid, why: err instanceof Error ? err.message : String(err) });
      }
    }
    this.kernel.detach();
    for (const name of Object.values(DEVICE_FILES)) this.#fuse?.removeFile(name);
    for (const side of ['app', 'fs'] as const) this.#wake(side);
    const event = { kind: 'detach' as const, killed, notKilled };
    this.#record(event);
    return event;
  }

  #wake(side: Side): void {
    const waiters = [...this.#pollWaiters[side]];
    this.#pollWaiters[side].clear();
    for (const kh of waiters) this.#fuse?.notifyPoll(kh);
  }

  #record(event: EmulatorEvent): void {
    this.#events.record(event);
    if (event.kind === 'stale-write') {
      this.#say(`stale write on ${event.side} for msgid ${event.msgid}${event.lateByMs === undefined ? '' : `, ${event.lateByMs.toFixed(0)} ms after the timeout`}: ignored`);
    } else if (event.kind === 'host-result') {
      const r = event.result;
      this.#say(`host ${r.op}: ${r.result} (${r.reason}${r.timedOutIn ? ` in ${r.timedOutIn}` : ''}) in ${r.totalMs.toFixed(1)} ms`);
    } else if (event.kind === 'host-ignored') {
      this.#say(`host ${event.op}: ignored by the kernel (${event.why}); the host gets no reply`);
    } else if (event.kind === 'stranded') {
      this.#say(`answer on ${event.side} for msgid ${event.msgid} dropped: ${event.why}; the host hears at the timeout`);
    } else if (event.kind === 'late-reply') {
      const r = event.result;
      this.#say(`host ${r.op}: ${r.result} (${r.reason}) replied after the host had stopped waiting`);
    } else if (event.kind === 'kernel-assert') {
      this.#say(`KASSERT ${event.what}: a debug kernel would panic here`);
    } else if (event.kind === 'detach') {
      this.#say(`driver detached: SIGKILL to ${event.killed.map((k) => `${k.side} pid ${k.pid}`).join(', ') || 'nobody'}`);
    } else if (event.kind === 'violation') {
      this.#say(`PROTOCOL VIOLATION on ${event.side}: ${event.what}`);
    } else if (event.kind === 'ufs-suspend') {
      this.#say(`ufssuspend: ${event.mountpoint} suspended by pid ${event.pid}`);
    } else if (event.kind === 'ufs-resume') {
      this.#say(`ufssuspend: ${event.mountpoint} resumed (${event.why})`);
    } else if (event.kind === 'ufs-refused') {
      this.#say(`ufssuspend: ${event.request} from pid ${event.pid}: ${event.errno}, ${event.why}`);
    }
  }

  /** (Re)starts the stand-in fs daemon and resolves once it has registered. */
  async startFsDaemon(mode: FsDaemonMode): Promise<void> {
    await this.stopFsDaemon();
    const self = fileURLToPath(import.meta.url);
    const script = join(self, '..', `fs-daemon-standin${extname(self)}`);
    const child = spawn(process.execPath, [script, '--device', this.paths.fsDevice, '--mode', mode, '--kernel-timeout-ms', String(this.#options.timeoutMs)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.#fsDaemon = { child, mode };
    const [line] = await Promise.race([
      once(child.stdout!, 'data'),
      once(child, 'exit').then(([code]) => {
        throw new Error(`the stand-in fs daemon exited (${code}) before registering`);
      }),
    ]);
    if (!String(line).startsWith('registered')) throw new Error(`stand-in fs daemon: unexpected output ${String(line)}`);
  }

  /** Stops the stand-in fs daemon: the kernel then fails every host request at once. */
  async stopFsDaemon(): Promise<void> {
    const daemon = this.#fsDaemon;
    this.#fsDaemon = undefined;
    if (!daemon || daemon.child.exitCode !== null || daemon.child.signalCode !== null) return;
    const exited = once(daemon.child, 'exit');
    daemon.child.kill('SIGKILL');
    await exited;
  }

  async #answer(request: ControlRequest): Promise<object> {
    switch (request.cmd) {
      case 'request': {
        const what = request.op ?? (request.opt === undefined ? undefined : { opt: request.opt });
        if (!what) throw new Error('request needs op or opt');
        return { result: await this.kernel.hostRequest(what) };
      }
      case 'state':
        return {
          app: this.kernel.registered('app'),
          fs: this.kernel.registered('fs'),
          fsDaemon: this.#fsDaemon ? { mode: this.#fsDaemon.mode, pid: this.#fsDaemon.child.pid } : null,
          timeoutMs: this.kernel.timeoutMs,
          hostWaitMs: this.kernel.hostWaitMs,
          detached: this.kernel.detached,
        };
      case 'fs-daemon':
        if (request.mode === 'stop') await this.stopFsDaemon();
        else await this.startFsDaemon(request.mode);
        return { ok: true };
      case 'detach':
        return { detach: this.detach() };
      default:
        throw new Error(`unknown command ${JSON.stringify((request as { cmd: unknown }).cmd)}`);
    }
  }

  /** Stops the fs daemon, closes the control socket and unmounts. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.stopFsDaemon();
      await this.#ufs?.stop();
      this.#control.close();
      await this.#fuse?.unmount();
    })();
    return this.#stopping;
  }
}
