// Linux's file-system freeze: FIFREEZE and FITHAW on a descriptor of the mount point. While a
// file system is frozen, every write to it blocks (reads go on) until FITHAW; the kernel keeps
// it frozen after the freezer closes its descriptor or dies, so whoever froze it must thaw it
// (the journal names it first: see src/engine/freeze-engine.ts). FreeBSD has no such call: UFS
// is suspended through /dev/ufssuspend, by a single-threaded helper.
import { koffi } from './koffi-addon.ts';
import { facts, strerror } from './libc.ts';
import { ERRNO } from './platform.ts';
import { SyscallError } from './errors.ts';
import * as libc from './libc.ts';

/** include/uapi/linux/fs.h: _IOWR('X', 119, int) and _IOWR('X', 120, int); read|write = 3 << 30. */
export const FIFREEZE = 0xc0045877;
export const FITHAW = 0xc0045878;

const O_RDONLY = 0;

const lib = koffi.load(facts.libc);
/** A fixed prototype of its own, so the freeze (which syncs the file system first) can run on the thread pool. */
const ioctlInt = lib.func('int ioctl(int fd, unsigned long request, _Inout_ void *arg)');

function linuxOnly(what: string): void {
  if (facts.os !== 'linux') throw new Error(`${what} is Linux's file-system freeze; on FreeBSD, UFS is suspended through /dev/ufssuspend`);
}

function openMountpoint(mountpoint: string): number {
  return libc.open(mountpoint, O_RDONLY | facts.O_CLOEXEC);
}

/**
 * FIFREEZE on the file system mounted at `mountpoint`, on libuv's thread pool (the kernel syncs
 * it first, which may take a while). Throws a SyscallError with syscall "FIFREEZE": EBUSY when it
 * is already frozen, EOPNOTSUPP when the file system cannot be frozen, EPERM when not root.
 */
export async function fifreeze(mountpoint: string): Promise<void> {
  linuxOnly('FIFREEZE');
  const fd = openMountpoint(mountpoint);
  try {
    const errno = await new Promise<number>((resolve, reject) => {
      ioctlInt.async(fd, FIFREEZE, Buffer.alloc(4), (err: unknown, result: number) => {
        if (err) return reject(err);
        // errno is read here, in the callback, before anything else runs on that thread.
        resolve(result === -1 ? koffi.errno() : 0);
      });
    });
    if (errno !== 0) throw new SyscallError('FIFREEZE', errno, mountpoint, strerror(errno));
  } finally {
    libc.close(fd, mountpoint);
  }
}

/**
 * FITHAW on the file system mounted at `mountpoint`. Synchronous: a thaw never waits on the disk,
 * and it runs on exit paths. Returns false when it was not frozen (EINVAL), so thawing twice is safe.
 */
export function fithaw(mountpoint: string): boolean {
  linuxOnly('FITHAW');
  const fd = openMountpoint(mountpoint);
  try {
    if (Number(ioctlInt(fd, FITHAW, Buffer.alloc(4))) !== -1) return true;
    const errno = koffi.errno();
    if (errno === ERRNO.EINVAL) return false;
    throw new SyscallError('FITHAW', errno, mountpoint, strerror(errno));
  } finally {
    libc.close(fd, mountpoint);
  }
}
