// Remounting a file system read-only for a freeze and read-write at the thaw: the way to hold
// still a file system that has no freeze call (the EFI system partition: msdosfs on FreeBSD,
// vfat on Linux). Both kernels flush the file system as part of the read-only remount (Linux:
// reconfigure_super() syncs it; FreeBSD: msdosfs_mount() flushes and syncs on MNT_UPDATE to
// read-only) and both refuse it with EBUSY while a file on it is open for writing (Linux:
// sb_prepare_remount_readonly(); FreeBSD: vflush(WRITECLOSE)).
//
// Linux: mount(2) with MS_REMOUNT. A remount replaces the mount's per-mount flags (nosuid,
// nodev, noexec, atime) and the super block's sync/dirsync/lazytime with what is passed, so the
// current ones (from mountinfo) are passed again: only read-only changes.
// FreeBSD: mount(8) -u, which merges the current options (flags2opts of f_flags) with the new
// one and runs the file system's own mount program (mount_msdosfs), the way an admin would.
import { koffi } from './koffi-addon.ts';
import { childProcess } from '../util/builtins.ts';
import { facts, strerror } from './libc.ts';
import { SyscallError } from './errors.ts';
import { ERRNO } from './platform.ts';

/** What a remount needs to know of a mount: its path and its current options (from the mount table). */
export interface RemountTarget {
  readonly mountpoint: string;
  /** Per-mount then super-block options as the mount table lists them. */
  readonly options: readonly string[];
}

export type RemountMode = 'ro' | 'rw';

/** include/uapi/linux/mount.h */
const MS = {
  RDONLY: 0x1, NOSUID: 0x2, NODEV: 0x4, NOEXEC: 0x8, SYNCHRONOUS: 0x10, REMOUNT: 0x20, MANDLOCK: 0x40, DIRSYNC: 0x80,
  NOSYMFOLLOW: 0x100, NOATIME: 0x400, NODIRATIME: 0x800, RELATIME: 0x200000, STRICTATIME: 0x1000000, LAZYTIME: 0x2000000,
} as const;

/** Mount table options that a remount would reset unless passed again. */
const KEPT_OPTIONS: Readonly<Record<string, number>> = {
  nosuid: MS.NOSUID, nodev: MS.NODEV, noexec: MS.NOEXEC, nosymfollow: MS.NOSYMFOLLOW,
  noatime: MS.NOATIME, nodiratime: MS.NODIRATIME, relatime: MS.RELATIME,
  sync: MS.SYNCHRONOUS, dirsync: MS.DIRSYNC, lazytime: MS.LAZYTIME, mand: MS.MANDLOCK,
};

/** The mount(2) flags that remount `target` read-only or read-write and keep everything else. */
export function linuxRemountFlags(target: RemountTarget, mode: RemountMode): number {
  let flags = MS.REMOUNT | (mode === 'ro' ? MS.RDONLY : 0);
  for (const option of target.options) flags |= KEPT_OPTIONS[option] ?? 0;
  // No atime option listed means strictatime (mountinfo prints none for it).
  if ((flags & (MS.NOATIME | MS.RELATIME)) === 0) flags |= MS.STRICTATIME;
  return flags >>> 0;
}

const linux =
  facts.os === 'linux'
    ? (() => {
        const lib = koffi.load(facts.libc);
        return { mount: lib.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data)') };
      })()
    : undefined;

function syscallName(mode: RemountMode): string {
  return `mount(MS_REMOUNT${mode === 'ro' ? '|MS_RDONLY' : ''})`;
}

/** FreeBSD's strerror texts that mount(8) ends its message with, for the errors a caller decides on. */
const FREEBSD_MESSAGES: ReadonlyArray<readonly [RegExp, string]> = [
  [/Device busy/, 'EBUSY'],
  [/Operation not permitted/, 'EPERM'],
  [/Read-only file system/, 'EROFS'],
  [/No such file or directory/, 'ENOENT'],
  [/Invalid argument/, 'EINVAL'],
];

function freebsdError(mode: RemountMode, mountpoint: string, err: Error & { stderr?: unknown; killed?: boolean }): Error {
  const command = `mount -u -o ${mode}`;
  const text = (typeof err.stderr === 'string' ? err.stderr : String(err.stderr ?? '')).trim() || err.message;
  if (err.killed) return new Error(`${command} ${mountpoint}: killed after ${MOUNT_TIMEOUT_MS} ms`);
  for (const [pattern, code] of FREEBSD_MESSAGES) {
    const errno = ERRNO[code];
    if (pattern.test(text) && errno !== undefined) return new SyscallError(command, errno, mountpoint, text);
  }
  return new Error(`${command} ${mountpoint}: ${text}`);
}

const MOUNT_TIMEOUT_MS = 10_000;

/**
 * Remounts `target` read-only. On Linux the call runs on libuv's thread pool (the kernel flushes
 * the file system first). Throws a SyscallError: EBUSY when a file on it is open for writing.
 */
export async function remountReadOnly(target: RemountTarget): Promise<void> {
  if (linux) {
    const flags = linuxRemountFlags(target, 'ro');
    const errno = await new Promise<number>((resolve, reject) => {
      linux.mount.async(null, target.mountpoint, null, flags, null, (err: unknown, result: number) => {
        if (err) return reject(err);
        // errno is read here, in the callback, before anything else runs on that thread.
        resolve(result === -1 ? koffi.errno() : 0);
      });
    });
    if (errno !== 0) throw new SyscallError(syscallName('ro'), errno, target.mountpoint, strerror(errno));
    return;
  }
  await new Promise<void>((resolve, reject) => {
    childProcess().execFile('/sbin/mount', ['-u', '-o', 'ro', target.mountpoint], { timeout: MOUNT_TIMEOUT_MS, encoding: 'utf8' }, (err) =>
      err ? reject(freebsdError('ro', target.mountpoint, err)) : resolve(),
    );
  });
}

/**
 * Remounts `target` read-write. Synchronous: it runs on exit paths (SIGTERM, the watchdog,
 * recovery) like FITHAW, and returning to read-write writes nothing that could wait long.
 */
export function remountReadWrite(target: RemountTarget): void {
  if (linux) {
    const result = Number(linux.mount(null, target.mountpoint, null, linuxRemountFlags(target, 'rw'), null));
    if (result === -1) {
      const errno = koffi.errno();
      throw new SyscallError(syscallName('rw'), errno, target.mountpoint, strerror(errno));
    }
    return;
  }
  try {
    childProcess().execFileSync('/sbin/mount', ['-u', '-o', 'rw', target.mountpoint], { timeout: MOUNT_TIMEOUT_MS, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    throw freebsdError('rw', target.mountpoint, err as Error);
  }
}
