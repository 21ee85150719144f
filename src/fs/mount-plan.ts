// The mount plan: for every mounted file system, what the fs role does with it at a freeze and
// why. Pure: the same entries, OS and policy always give the same plan, so CHECK, the dry run,
// status, the freeze and recovery all judge a mount by the same rules.
import type { MountEntry, MountTableOs } from './mount-table.ts';

export type MountAction =
  /** UFS: suspended through /dev/ufssuspend, one descriptor per mount (FreeBSD). */
  | 'suspend'
  /** ext4, xfs, btrfs: FIFREEZE at freeze, FITHAW at thaw (Linux). */
  | 'fifreeze'
  /** ZFS: `zpool sync POOL` at freeze; consistent on disk at every transaction group, nothing held. */
  | 'zpool-sync'
  /** FAT (the ESP), ext2fs on FreeBSD: remounted read-only for the freeze, read-write at thaw. */
  | 'remount-ro'
  /** The admin's policy for a file system with no freeze: its data is flushed, nothing held. */
  | 'sync'
  | 'skip'
  /** A writable file system that cannot be frozen and that the policy does not cover: CHECK fails. */
  | 'refuse';

export interface PlannedMount {
  readonly mountpoint: string;
  readonly fstype: string;
  readonly source: string;
  readonly action: MountAction;
  readonly reason: string;
  /** zpool-sync: the pool the dataset belongs to. */
  readonly pool?: string;
  /** Where the action came from: "default", a flag ("--fs-skip") or a policy file line ("/etc/hvvss/fs-policy:3"). */
  readonly origin?: string;
  /** remount-ro: what to do when the remount is refused (a file open for writing); absent: the freeze fails. */
  readonly ifBusy?: BusyFallback;
}

/**
 * What the admin chose for a mount point: leave it out, flush it only, or remount it read-only
 * for the freeze (any writable disk file system, not only those remounted by default), failing
 * the freeze when a file on it is open for writing, or else leaving it out or flushing it.
 * On a file system remounted by default, the -if-busy actions only choose what happens when busy.
 */
export type PolicyAction = 'skip' | 'sync' | 'remount-ro' | 'skip-if-busy' | 'sync-if-busy';
export const POLICY_ACTIONS: readonly PolicyAction[] = ['skip', 'sync', 'remount-ro', 'skip-if-busy', 'sync-if-busy'];
export type BusyFallback = 'skip' | 'sync';

/** One line of the policy file. */
export interface PolicyRule {
  readonly mountpoint: string;
  readonly action: PolicyAction;
  /** "FILE:LINE". */
  readonly origin: string;
}

export interface FsPolicy {
  /** Only these mount points are planned (--fs-include); empty or absent: every mount. */
  readonly include?: readonly string[];
  /** Writable mounts the admin chose to leave alone (--fs-skip). */
  readonly skip?: readonly string[];
  /** Writable mounts the admin chose to flush without freezing (--fs-sync). */
  readonly sync?: readonly string[];
  /** Mounts remounted read-only for the freeze (--fs-remount-ro). */
  readonly remountRo?: readonly string[];
  /** Remounted mounts left out when the remount is refused (--fs-skip-if-busy). */
  readonly skipIfBusy?: readonly string[];
  /** Remounted mounts flushed when the remount is refused (--fs-sync-if-busy). */
  readonly syncIfBusy?: readonly string[];
  /** The policy file's rules; a flag naming the same mount point wins. */
  readonly rules?: readonly PolicyRule[];
  /** The policy file read, if any (shown by status). */
  readonly file?: string;
}

/** The admin's choice for a mount point and where it came from: flags first, then the file. */
export function policyRule(policy: FsPolicy, mountpoint: string): { readonly action: PolicyAction; readonly origin: string } | undefined {
  const flags: ReadonlyArray<readonly [readonly string[] | undefined, PolicyAction]> = [
    [policy.skip, 'skip'], [policy.sync, 'sync'], [policy.remountRo, 'remount-ro'], [policy.skipIfBusy, 'skip-if-busy'], [policy.syncIfBusy, 'sync-if-busy'],
  ];
  for (const [list, action] of flags) if (list?.includes(mountpoint)) return { action, origin: `--fs-${action} ${mountpoint}` };
  return policy.rules?.find((r) => r.mountpoint === mountpoint);
}

export interface MountPlan {
  readonly os: MountTableOs;
  readonly mounts: readonly PlannedMount[];
  /** Why a freeze with this plan would not be consistent: a refused mount, an include that is no mount point. */
  readonly problems: readonly string[];
  /** The admin's policy file the plan followed, if any. */
  readonly policyFile?: string;
}

/** Nothing on disk behind them, or they show another file system's files: never frozen themselves. */
export const PSEUDO_FS: ReadonlySet<string> = new Set([
  // FreeBSD
  'devfs', 'fdescfs', 'procfs', 'linprocfs', 'linsysfs', 'tmpfs', 'mqueuefs', 'nullfs', 'autofs', 'unionfs',
  // Linux
  'proc', 'sysfs', 'cgroup', 'cgroup2', 'devpts', 'devtmpfs', 'overlay', 'securityfs', 'debugfs', 'tracefs', 'pstore',
  'bpf', 'hugetlbfs', 'mqueue', 'configfs', 'fusectl', 'efivarfs', 'binfmt_misc', 'rpc_pipefs', 'nsfs', 'ramfs', 'selinuxfs',
]);

/** Served by another machine: its own backup, not this guest's snapshot. */
export const REMOTE_FS: ReadonlySet<string> = new Set(['nfs', 'nfs4', 'smbfs', 'cifs', 'smb3', '9p', 'ceph', 'afs', 'fuse.sshfs']);

const FIFREEZE_FS: ReadonlySet<string> = new Set(['ext3', 'ext4', 'xfs', 'btrfs']);

function remountFs(os: MountTableOs): ReadonlySet<string> {
  return os === 'freebsd' ? new Set(['msdosfs', 'ext2fs']) : new Set(['vfat', 'msdos', 'exfat']);
}

/** The pool of a ZFS dataset ("zroot/ROOT/default" is in "zroot"). */
export function zfsPool(source: string): string {
  return source.split('/')[0] as string;
}

/** The option that names a mount point in the admin's flags, for messages. */
const FLAG = { include: '--fs-include', skip: '--fs-skip', sync: '--fs-sync' } as const;

function planOne(entry: MountEntry, os: MountTableOs, policy: FsPolicy): Omit<PlannedMount, 'mountpoint' | 'fstype' | 'source'> {
  const { fstype, mountpoint } = entry;
  if (entry.readOnly) return { action: 'skip', reason: 'read-only: nothing changes during the snapshot' };
  if (PSEUDO_FS.has(fstype)) return { action: 'skip', reason: `${fstype} keeps nothing of its own on disk` };
  if (REMOTE_FS.has(fstype)) return { action: 'skip', reason: `${fstype} is remote: it is not on this guest's disks` };
  if (os === 'freebsd' && (mountpoint === '/dev' || mountpoint.startsWith('/dev/'))) return { action: 'skip', reason: 'under /dev' };
  const rule = policyRule(policy, mountpoint);
  const origin = rule ? { origin: rule.origin } : {};
  if (rule?.action === 'skip') return { action: 'skip', reason: `skipped by the admin (${rule.origin})`, ...origin };
  if (rule?.action === 'sync') return { action: 'sync', reason: `flushed at freeze, not held (${rule.origin})`, ...origin };
  if (rule) return remounted(fstype, rule);
  if (os === 'freebsd' && fstype === 'ufs') return { action: 'suspend', reason: 'UFS: suspended through /dev/ufssuspend until the thaw' };
  if (os === 'linux' && FIFREEZE_FS.has(fstype)) return { action: 'fifreeze', reason: `${fstype}: frozen with FIFREEZE until the thaw` };
  if (fstype === 'zfs') {
    const pool = zfsPool(entry.source);
    return { action: 'zpool-sync', pool, reason: `ZFS is consistent on disk at every transaction group: "zpool sync ${pool}" at freeze, nothing held` };
  }
  if (remountFs(os).has(fstype)) return remounted(fstype, undefined);
  return {
    action: 'refuse',
    reason:
      `${fstype} is writable and hvvss cannot freeze it: the snapshot could catch it half-written. ` +
      `Say what to do with it: ${FLAG.sync} ${mountpoint} (flush only), ${FLAG.skip} ${mountpoint} (leave it out) ` +
      `or --fs-remount-ro ${mountpoint} (read-only for the freeze, if the file system allows it)`,
  };
}

/** remount-ro, by default (msdosfs, ext2fs, vfat) or by the admin's rule (remount-ro or -if-busy). */
function remounted(fstype: string, rule: { readonly action: PolicyAction; readonly origin: string } | undefined): Omit<PlannedMount, 'mountpoint' | 'fstype' | 'source'> {
  const ifBusy = rule?.action === 'skip-if-busy' ? 'skip' : rule?.action === 'sync-if-busy' ? 'sync' : undefined;
  const busy = ifBusy === 'skip' ? 'left out' : ifBusy === 'sync' ? 'flushed only' : 'the freeze fails';
  const why = rule ? `remounted read-only for the freeze (${rule.origin})` : `${fstype} has no freeze: remounted read-only for the freeze`;
  return {
    action: 'remount-ro',
    reason: `${why}, read-write at thaw; if a file on it is open for writing, ${busy}`,
    ...(rule ? { origin: rule.origin } : {}),
    ...(ifBusy ? { ifBusy } : {}),
  };
}

/**
 * The plan for a mount table. A mount point mounted over (the same path later in the table) is
 * hidden: only the visible, last one is acted on.
 */
export function planMounts(entries: readonly MountEntry[], os: MountTableOs, policy: FsPolicy = {}): MountPlan {
  const include = policy.include && policy.include.length > 0 ? new Set(policy.include) : undefined;
  const lastIndex = new Map<string, number>();
  entries.forEach((e, i) => lastIndex.set(e.mountpoint, i));
  const mounts: PlannedMount[] = entries.map((entry, i) => {
    const base = { mountpoint: entry.mountpoint, fstype: entry.fstype, source: entry.source };
    if (lastIndex.get(entry.mountpoint) !== i) return { ...base, origin: 'default', action: 'skip', reason: 'covered by a later mount on the same path' };
    if (include && !include.has(entry.mountpoint)) return { ...base, origin: FLAG.include, action: 'skip', reason: `not chosen (${FLAG.include} limits the plan)` };
    return { ...base, origin: 'default', ...planOne(entry, os, policy) };
  });
  const problems: string[] = [];
  for (const path of include ?? []) {
    if (!lastIndex.has(path)) problems.push(`${FLAG.include} ${path} is not a mount point (see "mount" for the mounted file systems)`);
  }
  for (const m of mounts) if (m.action === 'refuse') problems.push(`${m.mountpoint} (${m.fstype}): ${m.reason}`);
  return { os, mounts, problems, ...(policy.file ? { policyFile: policy.file } : {}) };
}

/** The mounts a freeze acts on (everything but skip and refuse), in mount order. */
export function actedOn(plan: MountPlan): PlannedMount[] {
  return plan.mounts.filter((m) => m.action !== 'skip' && m.action !== 'refuse');
}
