// The per-OS facts the device code depends on. FreeBSD is the product's home; Linux is where
// the emulated kernel runs. Everything else is refused up front rather than guessed.
import { constants } from 'node:os';

export type SupportedOs = 'freebsd' | 'linux';

export interface PlatformFacts {
  readonly os: SupportedOs;
  /** The C library to bind. */
  readonly libc: string;
  /** C type of poll(2)'s nfds argument: u_int on FreeBSD, unsigned long on Linux. */
  readonly nfdsType: 'uint32_t' | 'uint64_t';
  readonly O_RDWR: number;
  readonly O_NONBLOCK: number;
  readonly O_CLOEXEC: number;
  /** fcntl(2) F_DUPFD_CLOEXEC. */
  readonly F_DUPFD_CLOEXEC: number;
  /**
   * posix_spawnattr_setflags(3) bits (spawn.h): how a hook gets a process group of its own (a new
   * session where the C library can make one: glibc's POSIX_SPAWN_SETSID, what Node's `detached`
   * does; FreeBSD's posix_spawn has no such flag, so a new group, POSIX_SPAWN_SETPGROUP with 0),
   * and the resets of the signal mask and dispositions the child inherits from Node.
   */
  readonly spawn: { readonly ownGroup: number; readonly SETSIGDEF: number; readonly SETSIGMASK: number };
}

const FACTS: Record<SupportedOs, PlatformFacts> = {
  freebsd: {
    os: 'freebsd', libc: 'libc.so.7', nfdsType: 'uint32_t', O_RDWR: 0x2, O_NONBLOCK: 0x4, O_CLOEXEC: 0x100000, F_DUPFD_CLOEXEC: 17,
    spawn: { ownGroup: 0x02, SETSIGDEF: 0x10, SETSIGMASK: 0x20 },
  },
  linux: {
    os: 'linux', libc: 'libc.so.6', nfdsType: 'uint64_t', O_RDWR: 0x2, O_NONBLOCK: 0x800, O_CLOEXEC: 0x80000, F_DUPFD_CLOEXEC: 1030,
    spawn: { ownGroup: 0x80, SETSIGDEF: 0x04, SETSIGMASK: 0x08 },
  },
};

export function platformFacts(os: string = process.platform): PlatformFacts {
  if (os === 'freebsd' || os === 'linux') return FACTS[os];
  throw new Error(`hvvss runs on FreeBSD (and on Linux for its emulator); this is ${os}`);
}

/** poll(2) event bits: the same values on FreeBSD and Linux. */
export const POLL = { IN: 0x1, PRI: 0x2, OUT: 0x4, ERR: 0x8, HUP: 0x10, NVAL: 0x20, RDNORM: 0x40 } as const;

/** errno values of the running OS, by name (EBUSY, ENOENT, ...). */
export const ERRNO: Readonly<Record<string, number>> = constants.errno;

export function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(ERRNO)) if (value === errno) return name;
  return `errno ${errno}`;
}
