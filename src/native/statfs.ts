// statfs(2)'s file-system id on Linux, for the emulator's /dev/ufssuspend only (it matches the
// fsid_t a caller passes to UFSSUSPEND against the mounts it may suspend). Kept out of libc.ts,
// and out of the published package, like linux-mount.ts: hvvss itself never needs it.
import { koffi } from './koffi-addon.ts';
import { facts, strerror } from './libc.ts';
import { SyscallError } from './errors.ts';

const statfs = facts.os === 'linux' ? koffi.load(facts.libc).func('int statfs(const char *path, _Out_ void *buf)') : undefined;

/**
 * struct statfs on 64-bit Linux (x86_64, aarch64): seven 8-byte fields (f_type, f_bsize,
 * f_blocks, f_bfree, f_bavail, f_files, f_ffree), then f_fsid (int val[2]) at byte 56; 120 bytes
 * in all. FreeBSD's fsid_t is the same two int32s, which is why a caller can pass either.
 */
const STATFS_SIZE = 120;
const FSID_OFFSET = 56;

/** The two int32s of f_fsid, as statfs(2) gives them to any caller on `path`. */
export function fsidOf(path: string): readonly [number, number] {
  if (!statfs) throw new Error('statfs(2) is only bound on Linux (for the emulator)');
  if (process.arch !== 'x64' && process.arch !== 'arm64') throw new Error(`the statfs layout is known for x64 and arm64 only; this is ${process.arch}`);
  const buf = Buffer.alloc(STATFS_SIZE);
  if (Number(statfs(path, buf)) === -1) {
    const errno = koffi.errno();
    throw new SyscallError('statfs', errno, path, strerror(errno));
  }
  return [buf.readInt32LE(FSID_OFFSET), buf.readInt32LE(FSID_OFFSET + 4)];
}
