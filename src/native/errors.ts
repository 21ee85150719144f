// Typed errors for failed system calls: the syscall, the path it was about, and errno by name,
// so callers can decide by `code` and admins read one sentence that says what happened.
import { errnoName } from './platform.ts';

export class SyscallError extends Error {
  readonly syscall: string;
  readonly path: string | undefined;
  readonly errno: number;
  readonly code: string;

  constructor(syscall: string, errno: number, path?: string, detail?: string) {
    const code = errnoName(errno);
    const where = path === undefined ? syscall : `${syscall} ${path}`;
    super(`${where}: ${code}${detail ? ` (${detail})` : ''}`);
    this.name = 'SyscallError';
    this.syscall = syscall;
    this.path = path;
    this.errno = errno;
    this.code = code;
  }
}
