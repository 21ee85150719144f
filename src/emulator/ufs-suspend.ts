// FreeBSD's /dev/ufssuspend (sys/ufs/ffs/ffs_suspend.c), emulated on Linux: the same ioctls and
// the same refusals, with a real FIFREEZE/FITHAW behind them on the loop mounts the emulator was
// told to treat as UFS (--ufs-allow). Nothing else can ever be frozen through it: an fsid that
// is not one of those is ENOENT, as an fsid no mount has is on FreeBSD.
//
// What ffs_susp_ioctl does, and here:
//   UFSSUSPEND(fsid_t)  ENOENT  no mount has that fsid (vfs_getvfs)
//                       EDEADLK the calling process has more than one thread (p_numthreads > 1),
//                               or holds a file open for writing on that mount (descrip_check_write_mp)
//                       EBUSY   that mount is suspended already (ffs_susp_suspended)
//                       EBUSY   this descriptor holds a suspension already: the second mount is
//                               suspended, devfs_set_cdevpriv fails, and it is resumed again
//   UFSRESUME           ENOENT  this descriptor holds nothing (devfs_get_cdevpriv); else resumes
//   anything else       ENXIO
// Closing the descriptor resumes its mount (the cdevpriv destructor), and so does the death of
// the process holding it: FUSE's RELEASE comes when the last reference goes, whoever drops it.
// Requests are serialized, as ffs_susp_lock serializes them.
//
// Not emulated: EPERM in a jail (no jails here), the VOP_ACCESS check on the disk device (the
// node is root's 0600, so only root gets this far anyway), read/write of the suspended disk.
import { readdirSync, readFileSync, realpathSync } from 'node:fs';
import { constants } from 'node:os';
import { callerProcess } from './caller-process.ts';
import { readMountinfo } from './fuse/fuse-server.ts';
import type { FuseIoctlResult } from './fuse/fuse-server.ts';
import { ioctlRequest } from '../native/ioctl.ts';
import { fsidOf } from '../native/statfs.ts';

const E: Readonly<Record<string, number>> = constants.errno;

/** `_IOW('U', 1, fsid_t)` as Linux encodes it: what FUSE forwards whatever the caller was built for. */
export const UFSSUSPEND = ioctlRequest('linux', 'write', 'U', 1, 8);
/** `_IO('U', 2)`: no direction bits, no size, on either system. */
export const UFSRESUME = ('U'.charCodeAt(0) << 8) | 2;
/** make_dev(&ffs_susp_cdevsw, 0, UID_ROOT, GID_WHEEL, 0600, "ufssuspend"). */
export const UFSSUSPEND_NODE = { name: 'ufssuspend', mode: 0o600, uid: 0, gid: 0 } as const;

/** File systems FIFREEZE works on: what an allowed mount must be. */
const FREEZABLE = new Set(['ext3', 'ext4', 'xfs', 'btrfs']);

export interface UfsMount {
  readonly mountpoint: string;
  readonly source: string;
  readonly fstype: string;
  /** "major:minor" of its super block: what a descriptor open on it shows in fdinfo's mnt_id. */
  readonly device: string;
  readonly fsid: readonly [number, number];
}

export type UfsEvent =
  | { readonly kind: 'ufs-suspend'; readonly mountpoint: string; readonly pid: number }
  | { readonly kind: 'ufs-resume'; readonly mountpoint: string; readonly why: 'UFSRESUME' | 'close' | 'second suspension on one descriptor' | 'emulator stopping' }
  | { readonly kind: 'ufs-refused'; readonly request: 'UFSSUSPEND' | 'UFSRESUME' | 'unknown'; readonly errno: string; readonly why: string; readonly pid: number };

interface Handle {
  /** The mount this descriptor holds suspended (its cdevpriv). */
  suspended: UfsMount | undefined;
  /** Closed while a request on it was under way: what it suspends is resumed at once. */
  released: boolean;
}

export interface FreezeCalls {
  fifreeze(mountpoint: string): Promise<void>;
  fithaw(mountpoint: string): boolean;
}

/**
 * Checks the allow-list: each path must be the mount point of a loop-mounted file system that
 * FIFREEZE can freeze. Anything else is refused here, before the emulator starts, so no fsid of
 * this machine's own file systems is ever known to it.
 */
export function allowedMounts(paths: readonly string[]): UfsMount[] {
  const table = readMountinfo();
  return paths.map((path) => {
    const mountpoint = realpathSync(path);
    const entry = table.filter((m) => m.mountpoint === mountpoint).at(-1);
    if (!entry) throw new Error(`--ufs-allow ${path}: not a mount point (mount a loop image there first)`);
    if (!/^\/dev\/loop\d+$/.test(entry.source)) {
      throw new Error(`--ufs-allow ${path}: ${entry.source} is not a loop device; the emulator freezes only loop mounts made for it, never this machine's own file systems`);
    }
    if (!FREEZABLE.has(entry.fstype)) throw new Error(`--ufs-allow ${path}: ${entry.fstype} cannot be frozen with FIFREEZE (use ext4 or xfs)`);
    return { mountpoint, source: entry.source, fstype: entry.fstype, device: entry.device, fsid: fsidOf(mountpoint) };
  });
}

/** What FreeBSD's `mount -p` would print for these mounts if they were UFS (see docs/emulator.md). */
export function mountPText(mounts: readonly UfsMount[]): string {
  const escape = (s: string) => s.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return mounts.map((m) => `${escape(m.source)}\t${escape(m.mountpoint)}\tufs\trw\t2 2\n`).join('');
}

/** p_numthreads; undefined when the caller is gone already (killed during its own ioctl). */
function threadsOf(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/^Threads:\s*(\d+)/m.exec(status)?.[1] ?? '1');
  } catch {
    return undefined;
  }
}

/**
 * descrip_check_write_mp: a descriptor of `pid` open for writing on `mount`, as "fd N", or
 * undefined. Read from /proc/PID/fdinfo (flags and mnt_id), never by touching the files.
 */
function writerOn(pid: number, mount: UfsMount): string | undefined {
  const devices = new Map(readMountinfo().map((m) => [m.mountId, m.device]));
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fdinfo`);
  } catch {
    return undefined;
  }
  for (const fd of fds) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    const flags = Number.parseInt(/^flags:\s*([0-7]+)/m.exec(info)?.[1] ?? '0', 8);
    const mntId = Number(/^mnt_id:\s*(\d+)/m.exec(info)?.[1] ?? '-1');
    // O_ACCMODE: 1 O_WRONLY, 2 O_RDWR.
    if ((flags & 3) !== 0 && devices.get(mntId) === mount.device) return `fd ${fd}`;
  }
  return undefined;
}

export class UfsSuspendDevice {
  readonly mounts: readonly UfsMount[];
  readonly #calls: FreezeCalls;
  readonly #record: (event: UfsEvent) => void;
  readonly #say: (line: string) => void;
  readonly #handles = new Map<bigint, Handle>();
  /** ffs_susp_lock: one request (or destructor) at a time. */
  #lock: Promise<unknown> = Promise.resolve();

  constructor(options: { readonly mounts: readonly UfsMount[]; readonly calls: FreezeCalls; readonly record: (event: UfsEvent) => void; readonly say: (line: string) => void }) {
    this.mounts = options.mounts;
    this.#calls = options.calls;
    this.#record = options.record;
    this.#say = options.say;
  }

  #serialized<T>(work: () => Promise<T> | T): Promise<T> {
    const run = this.#lock.then(work);
    this.#lock = run.catch(() => {});
    return run;
  }

  /** ffs_susp_open checks nothing: every open gets a descriptor of its own. */
  open(fh: bigint): void {
    this.#handles.set(fh, { suspended: undefined, released: false });
  }

  /** The last close of a descriptor (or its holder's death): the destructor resumes its mount. */
  release(fh: bigint): Promise<void> {
    const handle = this.#handles.get(fh);
    if (!handle) return Promise.resolve();
    handle.released = true;
    return this.#serialized(() => {
      this.#handles.delete(fh);
      this.#destroy(handle, 'close');
    });
  }

  ioctl(fh: bigint, tid: number, cmd: number, input: Buffer): Promise<FuseIoctlResult> {
    const handle = this.#handles.get(fh);
    if (!handle) return Promise.resolve({ errno: constants.errno.EBADF });
    if (cmd === UFSSUSPEND && input.length === 8) {
      const fsid = [input.readInt32LE(0), input.readInt32LE(4)] as const;
      return this.#serialized(() => this.#suspend(handle, tid, fsid));
    }
    if (cmd === UFSRESUME) return this.#serialized(() => this.#resume(handle, tid));
    return Promise.resolve(this.#refuse('unknown', 'ENXIO', `unknown ioctl request 0x${(cmd >>> 0).toString(16)}`, tid));
  }

  #refuse(request: 'UFSSUSPEND' | 'UFSRESUME' | 'unknown', errno: string, why: string, pid: number): FuseIoctlResult {
    this.#record({ kind: 'ufs-refused', request, errno, why, pid });
    return { errno: E[errno] ?? (E.EIO as number) };
  }

  async #suspend(handle: Handle, tid: number, fsid: readonly [number, number]): Promise<FuseIoctlResult> {
    const caller = callerProcess(tid);
    const pid = caller?.pid ?? tid;
    const mount = this.mounts.find((m) => m.fsid[0] === fsid[0] && m.fsid[1] === fsid[1]);
    if (!mount) return this.#refuse('UFSSUSPEND', 'ENOENT', `no mount has fsid ${fsid[0]}:${fsid[1]}`, pid);
    const threads = threadsOf(pid);
    if (threads === undefined) return this.#refuse('UFSSUSPEND', 'ESRCH', `pid ${pid} is gone`, pid);
    if (threads > 1) return this.#refuse('UFSSUSPEND', 'EDEADLK', `pid ${pid} has ${threads} threads; UFSSUSPEND needs a single-threaded caller`, pid);
    const writer = writerOn(pid, mount);
    if (writer) return this.#refuse('UFSSUSPEND', 'EDEADLK', `pid ${pid} holds ${writer} open for writing on ${mount.mountpoint}`, pid);
    if ([...this.#handles.values()].some((h) => h.suspended === mount)) {
      return this.#refuse('UFSSUSPEND', 'EBUSY', `${mount.mountpoint} is suspended already`, pid);
    }
    try {
      await this.#calls.fifreeze(mount.mountpoint);
    } catch (err) {
      // vfs_write_suspend's own failure; frozen by someone else (fsfreeze -f) is EBUSY, like a suspension.
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      return this.#refuse('UFSSUSPEND', code in E ? code : 'EIO', `cannot freeze ${mount.mountpoint}: ${(err as Error).message}`, pid);
    }
    this.#record({ kind: 'ufs-suspend', mountpoint: mount.mountpoint, pid });
    if (handle.suspended) {
      // devfs_set_cdevpriv: one datum per descriptor. The new suspension is undone; the first stays.
      this.#resumeMount(mount, 'second suspension on one descriptor');
      return this.#refuse('UFSSUSPEND', 'EBUSY', `this descriptor holds ${handle.suspended.mountpoint} already; ${mount.mountpoint} was suspended and resumed again`, pid);
    }
    handle.suspended = mount;
    // Closed while the freeze ran (its holder died): the destructor runs now.
    if (handle.released) this.#destroy(handle, 'close');
    return { result: 0 };
  }

  #resume(handle: Handle, tid: number): FuseIoctlResult {
    if (!handle.suspended) return this.#refuse('UFSRESUME', 'ENOENT', 'this descriptor holds no suspension', callerProcess(tid)?.pid ?? tid);
    this.#destroy(handle, 'UFSRESUME');
    return { result: 0 };
  }

  /** ffs_susp_dtor. */
  #destroy(handle: Handle, why: 'UFSRESUME' | 'close' | 'emulator stopping'): void {
    const mount = handle.suspended;
    handle.suspended = undefined;
    if (mount) this.#resumeMount(mount, why);
  }

  #resumeMount(mount: UfsMount, why: Extract<UfsEvent, { kind: 'ufs-resume' }>['why']): void {
    try {
      this.#calls.fithaw(mount.mountpoint);
    } catch (err) {
      // FreeBSD panics here ("failed to unsuspend writes"); the emulator says so and goes on.
      this.#say(`FAILED to resume ${mount.mountpoint} (${why}): ${(err as Error).message}; FreeBSD would panic; thaw it with "fsfreeze -u ${mount.mountpoint}"`);
      return;
    }
    this.#record({ kind: 'ufs-resume', mountpoint: mount.mountpoint, why });
  }

  /** Resumes every mount still suspended: the emulator never leaves a file system frozen behind it. */
  stop(): Promise<void> {
    return this.#serialized(() => {
      for (const handle of this.#handles.values()) this.#destroy(handle, 'emulator stopping');
    });
  }
}
