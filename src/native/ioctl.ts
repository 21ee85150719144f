// ioctl(2) request numbers. Both systems pack direction, size, group and number the same way;
// only the direction bits differ (and the meaning of "in"/"out" is mirrored), so one encoder
// with a per-OS table gives the right numbers for the hv_vss ioctls on each.
import type { SupportedOs } from './platform.ts';

export type IoctlDirection = 'read' | 'write';

interface IocLayout {
  /** Direction bits for a request whose data the kernel copies out to the caller (_IOR). */
  readonly out: number;
  /** Direction bits for a request whose data the kernel copies in from the caller (_IOW). */
  readonly in: number;
  readonly sizeMask: number;
}

const LAYOUT: Record<SupportedOs, IocLayout> = {
  // sys/sys/ioccom.h: IOC_OUT 0x40000000, IOC_IN 0x80000000, IOCPARM_MASK 0x1fff
  freebsd: { out: 0x40000000, in: 0x80000000, sizeMask: 0x1fff },
  // include/uapi/asm-generic/ioctl.h: _IOC_READ 2 << 30, _IOC_WRITE 1 << 30, 14 size bits
  linux: { out: 0x80000000, in: 0x40000000, sizeMask: 0x3fff },
};

/** `_IOR(group, nr, size)` for 'read', `_IOW(group, nr, size)` for 'write'. */
export function ioctlRequest(os: SupportedOs, dir: IoctlDirection, group: string, nr: number, size: number): number {
  const layout = LAYOUT[os];
  if (group.length !== 1) throw new RangeError(`ioctl group must be one character, got ${JSON.stringify(group)}`);
  if (size > layout.sizeMask) throw new RangeError(`ioctl argument of ${size} bytes is too large for ${os}`);
  const bits = dir === 'read' ? layout.out : layout.in;
  return (bits | ((size & layout.sizeMask) << 16) | (group.charCodeAt(0) << 8) | nr) >>> 0;
}
