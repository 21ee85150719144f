// mount(2) and umount2(2), for the FUSE emulator only (it mounts the emulated devices on Linux).
// Kept out of libc.ts, and out of the published package: hvvss itself never mounts anything.
import { koffi } from './koffi-addon.ts';
import { facts, strerror } from './libc.ts';
import { SyscallError } from './errors.ts';

const linux =
  facts.os === 'linux'
    ? (() => {
        const lib = koffi.load(facts.libc);
        return {
          mount: lib.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)'),
          umount2: lib.func('int umount2(const char *target, int flags)'),
        };
      })()
    : undefined;

export const MS = { NOSUID: 0x2, NODEV: 0x4 } as const;
export const MNT_DETACH = 0x2;

function check(syscall: string, result: number, target: string): void {
  if (result !== -1) return;
  const errno = koffi.errno();
  throw new SyscallError(syscall, errno, target, strerror(errno));
}

export function mount(source: string, target: string, fstype: string, flags: number, data: string): void {
  if (!linux) throw new Error('mount(2) is only bound on Linux (for the emulator)');
  check('mount', Number(linux.mount(source, target, fstype, flags, data)), target);
}

export function umount2(target: string, flags: number): void {
  if (!linux) throw new Error('umount2(2) is only bound on Linux (for the emulator)');
  check('umount2', Number(linux.umount2(target, flags)), target);
}
