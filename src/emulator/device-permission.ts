// The permission check devfs makes before a driver's d_open runs (vaccess(9) against the node's
// owner, group and mode). hv_snapshot.c's open routines check nothing themselves: not the
// caller's uid, not the access mode. So with root:wheel 0640 a member of wheel may open the
// device read-only and take the registration (ioctl needs no FWRITE), and only root may open it
// for writing. FUSE runs no check of its own here (no default_permissions), so this is it.
import { constants } from 'node:fs';

export interface NodeOwnership {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

export interface Caller {
  readonly uid: number;
  /** The primary (fs) group. */
  readonly gid: number;
  readonly groups: readonly number[];
}

/** The access-mode bits of the open(2) flags (Linux; node:fs does not export it). */
const O_ACCMODE = 3;

/** open(2) flags to the permission bits they need: 4 read, 2 write. */
function wanted(flags: number): number {
  switch (flags & O_ACCMODE) {
    case constants.O_RDONLY:
      return 4;
    case constants.O_WRONLY:
      return 2;
    default:
      return 6;
  }
}

export function mayOpen(node: NodeOwnership, caller: Caller, flags: number): boolean {
  if (caller.uid === 0) return true; // root passes the read and write checks
  let granted: number;
  if (caller.uid === node.uid) granted = (node.mode >> 6) & 7;
  else if (caller.gid === node.gid || caller.groups.includes(node.gid)) granted = (node.mode >> 3) & 7;
  else granted = node.mode & 7;
  const want = wanted(flags);
  return (want & ~granted) === 0;
}
