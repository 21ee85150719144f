// What the OS's own file-system daemon would do with this mount table, said plainly: it explains
// to an admin why host backups fail (FreeBSD) or what gets frozen without hooks (Linux).
//
// FreeBSD, contrib/hyperv/tools/hv_vss_daemon.c, check(): walks getmntinfo() from the last
// mount to the first; skips a mount whose path starts with "/dev" (strncmp, so "/devel" too) and
// read-only ones; returns EPERM at the first other one whose type does not start with "ufs".
// So one writable msdosfs, zfs, tmpfs, procfs or nullfs mount fails every CHECK.
//
// Linux, tools/hv/hv_vss_daemon.c: FIFREEZEs every mount whose source is under /dev/, except
// loop devices, read-only mounts and vfat, "/" last.
import type { MountEntry, MountTableOs } from './mount-table.ts';

export interface FsDaemonVerdict {
  /** FreeBSD: every CHECK fails. */
  readonly refusesEveryBackup: boolean;
  /** FreeBSD: the writable non-UFS mounts that make it refuse, in the order check() meets them (last mount first). */
  readonly blocking: readonly MountEntry[];
  /** Linux: what it would freeze, in its order ("/" last). */
  readonly wouldFreeze: readonly MountEntry[];
  /** One or two sentences for the admin. */
  readonly text: string;
}

const name = (m: MountEntry): string => `${m.mountpoint} (${m.fstype})`;

export function freebsdBlockingMounts(entries: readonly MountEntry[]): MountEntry[] {
  return [...entries].reverse().filter((m) => !m.mountpoint.startsWith('/dev') && !m.readOnly && !m.fstype.startsWith('ufs'));
}

export function linuxDaemonFreezes(entries: readonly MountEntry[]): MountEntry[] {
  const frozen = entries.filter((m) => m.source.startsWith('/dev/') && !m.source.startsWith('/dev/loop') && !m.readOnly && m.fstype !== 'vfat');
  return [...frozen.filter((m) => m.mountpoint !== '/'), ...frozen.filter((m) => m.mountpoint === '/')];
}

export function fsDaemonVerdict(entries: readonly MountEntry[], os: MountTableOs): FsDaemonVerdict {
  if (os === 'freebsd') {
    const blocking = freebsdBlockingMounts(entries);
    if (blocking.length === 0) {
      const ufs = entries.filter((m) => !m.readOnly && m.fstype.startsWith('ufs') && !m.mountpoint.startsWith('/dev'));
      const several = ufs.length > 1
        ? `; but it suspends the ${ufs.length} UFS mounts (${ufs.map((m) => m.mountpoint).join(', ')}) through one /dev/ufssuspend descriptor, which holds only one: FREEZE fails and leaves the first suspended. Run hvvss with the fs role`
        : '';
      return { refusesEveryBackup: false, blocking, wouldFreeze: ufs, text: `hv_vss_daemon would accept this guest's mounts${several}` };
    }
    const first = blocking[0] as MountEntry;
    const others = blocking.length > 1 ? ` (also ${blocking.slice(1).map(name).join(', ')})` : '';
    return {
      refusesEveryBackup: true,
      blocking,
      wouldFreeze: [],
      text: `hv_vss_daemon will refuse every backup on this guest because ${name(first)} is writable${others}; run hvvss with the fs role`,
    };
  }
  const wouldFreeze = linuxDaemonFreezes(entries);
  const list = wouldFreeze.length === 0 ? 'nothing' : wouldFreeze.map(name).join(', ');
  return {
    refusesEveryBackup: false,
    blocking: [],
    wouldFreeze,
    text: `the Linux hv_vss_daemon would FIFREEZE ${list} (every writable mount of a /dev/ device but loop devices and vfat, "/" last), with no hooks`,
  };
}
