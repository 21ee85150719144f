// The C library calls hvvss needs, declared once. Nothing else in the project imports koffi.
// Every call that can fail goes through `check`, which reads errno immediately after the call
// (koffi keeps it per thread; any later JS work could overwrite it) and throws a SyscallError.
import { koffi } from './koffi-addon.ts';
import { ERRNO, platformFacts } from './platform.ts';
import { SyscallError } from './errors.ts';

export const facts = platformFacts();
const lib = koffi.load(facts.libc);

koffi.alias('nfds_t', facts.nfdsType);

/**
 * Declarations. Variadic C functions (open, ioctl) get one fixed prototype per use: koffi cannot
 * run a variadic prototype with `.async`, and fixed ones document exactly what is passed.
 */
const c = {
  open: lib.func('int open(const char *path, int flags)'),
  close: lib.func('int close(int fd)'),
  write: lib.func('intptr_t write(int fd, const void *buf, size_t count)'),
  read: lib.func('intptr_t read(int fd, _Out_ void *buf, size_t count)'),
  pipe2: lib.func('int pipe2(_Out_ void *fds, int flags)'),
  poll: lib.func('int poll(_Inout_ void *fds, nfds_t nfds, int timeout)'),
  /** ioctl with a pointer argument; the buffer is both the in and the out side. */
  ioctl: lib.func('int ioctl(int fd, unsigned long request, _Inout_ void *arg)'),
  strerror: lib.func('const char *strerror(int errnum)'),
  openlog: lib.func('void openlog(const void *ident, int option, int facility)'),
  syslog: lib.func('void syslog(int priority, const char *format, const char *message)'),
  flock: lib.func('int flock(int fd, int operation)'),
  /** fcntl with an int argument (F_DUPFD_CLOEXEC). */
  fcntlInt: lib.func('int fcntl(int fd, int cmd, int arg)'),
};

/** glibc's malloc_trim(3), where there is one (FreeBSD's jemalloc returns memory by itself). */
const mallocTrim: ((pad: number) => number) | undefined = (() => {
  if (facts.os !== 'linux') return undefined;
  try {
    return lib.func('int malloc_trim(size_t pad)') as (pad: number) => number;
  } catch {
    return undefined; // not glibc
  }
})();

/**
 * Gives the C heap's free pages back to the system: glibc keeps what was freed in its arenas
 * (Node's and koffi's start-up allocations), and returns it only on request.
 */
export function trimCHeap(): void {
  mallocTrim?.(0);
}

export function strerror(errno: number): string {
  return String(c.strerror(errno));
}

function fail(syscall: string, errno: number, path?: string): never {
  throw new SyscallError(syscall, errno, path, strerror(errno));
}

/** Runs a sync call; a -1 result throws with the errno read right after it. */
function check(syscall: string, result: number | bigint, path?: string): number {
  if (Number(result) === -1) fail(syscall, koffi.errno(), path);
  return Number(result);
}

export function open(path: string, flags: number): number {
  return check('open', c.open(path, flags), path);
}

export function close(fd: number, path?: string): void {
  check('close', c.close(fd), path);
}

export function write(fd: number, buf: Buffer, path?: string): number {
  return check('write', c.write(fd, buf, buf.length), path);
}

/** read(2) into `buf`: the byte count (0 at end of file). */
export function read(fd: number, buf: Buffer, path?: string): number {
  return check('read', c.read(fd, buf, buf.length), path);
}

/** pipe2(O_CLOEXEC): [readEnd, writeEnd]. */
export function pipe(): [number, number] {
  const fds = Buffer.alloc(8);
  check('pipe2', c.pipe2(fds, facts.O_CLOEXEC));
  return [fds.readInt32LE(0), fds.readInt32LE(4)];
}

/** fcntl(2) F_DUPFD_CLOEXEC: a close-on-exec copy of `fd` numbered `lowest` or above. */
export function dupCloexecAbove(fd: number, lowest: number): number {
  return check('fcntl', c.fcntlInt(fd, facts.F_DUPFD_CLOEXEC, lowest));
}

export function ioctl(fd: number, request: number, arg: Buffer, path?: string): number {
  return check('ioctl', c.ioctl(fd, request, arg), path);
}

export interface PollResult {
  readonly ready: number;
  /** errno when poll returned -1, else 0. */
  readonly errno: number;
}

/**
 * poll(2) on libuv's thread pool, so the event loop stays free and an idle wait costs no CPU.
 * `fds` is an array of `struct pollfd` (8 bytes each) that the kernel fills with revents.
 */
export function pollAsync(fds: Buffer, timeoutMs: number): Promise<PollResult> {
  return new Promise((resolve, reject) => {
    c.poll.async(fds, fds.length / 8, timeoutMs, (err: unknown, ready: number) => {
      if (err) return reject(err);
      // errno must be read here, in the callback, before anything else runs on this thread.
      resolve({ ready, errno: ready === -1 ? koffi.errno() : 0 });
    });
  });
}

const LOCK = { EX: 2, NB: 4, UN: 8 } as const;

/** flock(2) with LOCK_NB: false when another open file holds the lock (EWOULDBLOCK). */
export function tryLock(fd: number, path?: string): boolean {
  if (c.flock(fd, LOCK.EX | LOCK.NB) === 0) return true;
  const errno = koffi.errno();
  if (errno === ERRNO.EWOULDBLOCK || errno === ERRNO.EAGAIN) return false;
  fail('flock', errno, path);
}

/** flock(2) LOCK_UN: gives the lock up but keeps the descriptor for the next tryLock. */
export function unlock(fd: number, path?: string): void {
  check('flock', c.flock(fd, LOCK.UN), path);
}

/** syslog(3) priorities and facilities (identical on FreeBSD and Linux). */
export const LOG = { ERR: 3, WARNING: 4, NOTICE: 5, INFO: 6, DEBUG: 7, DAEMON: 3 << 3, USER: 1 << 3, PID: 0x01, NDELAY: 0x08 } as const;

// openlog keeps the ident pointer, so the string must outlive the call: keep it here.
let syslogIdent: Buffer | undefined;

export function openSyslog(ident: string, facility: number): void {
  syslogIdent = Buffer.from(`${ident}\0`);
  c.openlog(syslogIdent, LOG.PID | LOG.NDELAY, facility);
}

export function syslog(priority: number, message: string): void {
  // Always through "%s": a message is data, never a format string.
  c.syslog(priority, '%s', message);
}
