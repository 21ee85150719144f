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
}

const FACTS: Record<SupportedOs, PlatformFacts> = {
  freebsd: { os: 'freebsd', libc: 'libc.so.7', nfdsType: 'uint32_t', O_RDWR: 0x2, O_NONBLOCK: 0x4, O_CLOEXEC: 0x100000 },
  linux: { os: 'linux', libc: 'libc.so.6', nfdsType: 'uint64_t', O_RDWR: 0x2, O_NONBLOCK: 0x800, O_CLOEXEC: 0x80000 },
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
