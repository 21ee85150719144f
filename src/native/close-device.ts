// close(2) of a VSS device descriptor, shared by VssDevice and LinuxVssDevice.
import * as libc from './libc.ts';
import { SyscallError } from './errors.ts';

/**
 * After the driver went away close(2) may report an error (ENOTCONN on a dead FUSE mount), but
 * the descriptor is released all the same: nothing is left to undo, so the error is dropped.
 */
export function closeDevice(fd: number, path: string): void {
  try {
    libc.close(fd, path);
  } catch (err) {
    if (!(err instanceof SyscallError)) throw err;
  }
}
