// The mount table parsers and the plan rules, on real-looking mountinfo and "mount -p" samples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeOctalEscapes, parseMountinfo, parseMountP } from '../../src/fs/mount-table.ts';
import { actedOn, planMounts, type MountPlan } from '../../src/fs/mount-plan.ts';
import { fsDaemonVerdict } from '../../src/fs/fs-daemon-verdict.ts';
import { planLines, planSummary } from '../../src/fs/plan-text.ts';
import { FREEBSD_TWO_UFS, FREEBSD_VM_IMAGE, FREEBSD_ZFS, LINUX_MOUNTINFO } from './samples.ts';

const actions = (plan: MountPlan) => Object.fromEntries(plan.mounts.filter((m) => !/covered/.test(m.reason)).map((m) => [m.mountpoint, m.action]));

test('octal escapes are decoded: space, tab, newline, backslash', () => {
  assert.equal(decodeOctalEscapes('/mnt/a\\040b\\011c\\012d\\134e'), '/mnt/a b\tc\nd\\e');
});

test('mountinfo: mount point, type, source and read-only from either option list', () => {
  const entries = parseMountinfo(LINUX_MOUNTINFO);
  assert.equal(entries.length, 15);
  const root = entries.find((e) => e.mountpoint === '/');
  assert.deepEqual({ ...root, options: undefined }, { source: '/dev/sda1', mountpoint: '/', fstype: 'ext4', readOnly: false, options: undefined });
  assert.equal(entries.find((e) => e.mountpoint === '/usr')?.readOnly, true);
  assert.equal(entries.find((e) => e.source === '/dev/loop0')?.mountpoint, '/mnt/loop disk');
  assert.equal(entries.find((e) => e.mountpoint === '/mnt/remote')?.fstype, 'fuse.sshfs');
  assert.throws(() => parseMountinfo('garbage line\n'), /unexpected mountinfo line/);
});

test('mount -p: fstab-like lines, tabs or spaces, ro in the options', () => {
  const entries = parseMountP(FREEBSD_TWO_UFS);
  assert.deepEqual(entries.map((e) => [e.mountpoint, e.fstype, e.readOnly]), [
    ['/', 'ufs', false], ['/dev', 'devfs', false], ['/var', 'ufs', false], ['/usr/local', 'ufs', true], ['/mnt/my disk', 'ufs', false],
  ]);
  assert.equal(parseMountP('zroot/ROOT/default  /  zfs  rw  0 0\n')[0]?.source, 'zroot/ROOT/default');
});

test('FreeBSD VM image: UFS suspended, the ESP remounted read-only, devfs skipped', () => {
  const plan = planMounts(parseMountP(FREEBSD_VM_IMAGE), 'freebsd');
  assert.deepEqual(actions(plan), { '/': 'suspend', '/dev': 'skip', '/boot/efi': 'remount-ro' });
  assert.deepEqual(plan.problems, []);
});

test('FreeBSD ZFS: zpool sync per dataset with its pool; pseudo, read-only and remote mounts skipped with the reason', () => {
  const plan = planMounts(parseMountP(FREEBSD_ZFS), 'freebsd');
  assert.deepEqual(actions(plan), {
    '/': 'zpool-sync', '/dev': 'skip', '/boot/efi': 'remount-ro', '/dev/fd': 'skip', '/proc': 'skip', '/tmp': 'skip',
    '/home': 'zpool-sync', '/usr/src': 'zpool-sync', '/jails/web/usr/src': 'skip', '/mnt/nfs': 'skip',
  });
  assert.equal(plan.mounts.find((m) => m.mountpoint === '/home')?.pool, 'zroot');
  assert.match(plan.mounts.find((m) => m.mountpoint === '/tmp')?.reason ?? '', /tmpfs keeps nothing/);
  assert.match(plan.mounts.find((m) => m.mountpoint === '/mnt/nfs')?.reason ?? '', /remote/);
  assert.match(plan.mounts.find((m) => m.mountpoint === '/jails/web/usr/src')?.reason ?? '', /read-only/);
});

test('Linux: FIFREEZE for ext4 and xfs, vfat remounted, FUSE refused with its name and the fix, sshfs and nfs4 remote', () => {
  const plan = planMounts(parseMountinfo(LINUX_MOUNTINFO), 'linux');
  assert.deepEqual(actions(plan), {
    '/sys': 'skip', '/proc': 'skip', '/dev': 'skip', '/dev/pts': 'skip', '/run': 'skip', '/': 'fifreeze', '/sys/fs/cgroup': 'skip',
    '/boot/efi': 'remount-ro', '/usr': 'skip', '/mnt/remote': 'skip', '/mnt/fuse': 'refuse', '/mnt/loop disk': 'fifreeze', '/srv/data': 'skip', '/mnt/share': 'skip',
  });
  // /srv/data is overmounted by a tmpfs: the xfs below is hidden, the visible tmpfs is skipped.
  assert.deepEqual(plan.mounts.filter((m) => m.mountpoint === '/srv/data').map((m) => m.reason.split(' ')[0]), ['covered', 'tmpfs']);
  assert.equal(plan.problems.length, 1);
  assert.match(plan.problems[0] as string, /^\/mnt\/fuse \(fuse\.example\): .*--fs-sync \/mnt\/fuse .*--fs-skip \/mnt\/fuse/);
});

test('the admin policy: --fs-skip and --fs-sync settle a refused mount; --fs-include limits the plan and names a non-mount', () => {
  const entries = parseMountinfo(LINUX_MOUNTINFO);
  assert.deepEqual(planMounts(entries, 'linux', { skip: ['/mnt/fuse'] }).problems, []);
  const synced = planMounts(entries, 'linux', { sync: ['/mnt/fuse'] });
  assert.equal(synced.mounts.find((m) => m.mountpoint === '/mnt/fuse')?.action, 'sync');
  const only = planMounts(entries, 'linux', { include: ['/mnt/loop disk', '/nowhere'] });
  assert.deepEqual(actedOn(only).map((m) => m.mountpoint), ['/mnt/loop disk']);
  assert.equal(only.mounts.find((m) => m.mountpoint === '/')?.action, 'skip');
  assert.deepEqual(only.problems, ['--fs-include /nowhere is not a mount point (see "mount" for the mounted file systems)']);
  // A read-only mount stays skipped whatever the policy says.
  assert.equal(planMounts(entries, 'linux', { sync: ['/usr'] }).mounts.find((m) => m.mountpoint === '/usr')?.action, 'skip');
});

test('hv_vss_daemon on FreeBSD: refuses every backup naming the mount check() meets first (the last one)', () => {
  const image = fsDaemonVerdict(parseMountP(FREEBSD_VM_IMAGE), 'freebsd');
  assert.equal(image.refusesEveryBackup, true);
  assert.equal(image.text, 'hv_vss_daemon will refuse every backup on this guest because /boot/efi (msdosfs) is writable; run hvvss with the fs role');
  const zfs = fsDaemonVerdict(parseMountP(FREEBSD_ZFS), 'freebsd');
  // From the last mount backwards; /dev/fd is under /dev, /jails/... is read-only.
  assert.deepEqual(zfs.blocking.map((m) => m.mountpoint), ['/mnt/nfs', '/usr/src', '/home', '/tmp', '/proc', '/boot/efi', '/']);
  assert.match(zfs.text, /because \/mnt\/nfs \(nfs\) is writable \(also \/usr\/src \(zfs\)/);
  const two = fsDaemonVerdict(parseMountP(FREEBSD_TWO_UFS), 'freebsd');
  assert.equal(two.refusesEveryBackup, false);
  assert.match(two.text, /3 UFS mounts \(\/, \/var, \/mnt\/my disk\) through one \/dev\/ufssuspend descriptor/);
});

test('hv_vss_daemon on Linux: what it would FIFREEZE, "/" last, no loop devices, no vfat, no read-only', () => {
  const verdict = fsDaemonVerdict(parseMountinfo(LINUX_MOUNTINFO), 'linux');
  assert.deepEqual(verdict.wouldFreeze.map((m) => m.mountpoint), ['/srv/data', '/']);
  assert.match(verdict.text, /would FIFREEZE \/srv\/data \(xfs\), \/ \(ext4\)/);
});

test('plan text: one line per acted-on mount with the reason; skipped ones folded unless asked', () => {
  const plan = planMounts(parseMountP(FREEBSD_VM_IMAGE), 'freebsd');
  assert.deepEqual(planLines(plan), [
    '  /          ufs      suspend: UFS: suspended through /dev/ufssuspend until the thaw',
    '  /boot/efi  msdosfs  remount ro: msdosfs has no freeze: remounted read-only for the freeze, read-write at thaw; if a file on it is open for writing, the freeze fails',
    '  (1 more skipped: read-only, pseudo, remote, covered or not chosen; --json lists them)',
  ]);
  assert.equal(planLines(plan, { all: true }).length, 3);
  assert.equal(planSummary(plan), 'the fs role would suspend 1, remount ro 1 file system(s)');
});

test('the policy for a remounted mount when it is busy: flags win over the file, each mount says where its action came from', () => {
  const entries = parseMountP(FREEBSD_ZFS);
  const rules = [
    { mountpoint: '/boot/efi', action: 'skip-if-busy', origin: '/etc/p:2' },
    { mountpoint: '/tmp', action: 'sync', origin: '/etc/p:3' },
    { mountpoint: '/home', action: 'skip', origin: '/etc/p:4' },
  ] as const;
  const fromFile = planMounts(entries, 'freebsd', { rules, file: '/etc/p' });
  const efi = fromFile.mounts.find((m) => m.mountpoint === '/boot/efi');
  assert.equal(efi?.action, 'remount-ro');
  assert.equal(efi?.ifBusy, 'skip');
  assert.equal(efi?.origin, '/etc/p:2');
  assert.match(efi?.reason ?? '', /remounted read-only for the freeze \(\/etc\/p:2\), read-write at thaw; if a file on it is open for writing, left out$/);
  assert.equal(fromFile.mounts.find((m) => m.mountpoint === '/home')?.origin, '/etc/p:4');
  // A pseudo file system stays skipped whatever the policy says; its origin is the default rule.
  assert.equal(fromFile.mounts.find((m) => m.mountpoint === '/tmp')?.action, 'skip');
  assert.equal(fromFile.mounts.find((m) => m.mountpoint === '/')?.origin, 'default');
  assert.equal(fromFile.policyFile, '/etc/p');
  assert.ok(planLines(fromFile).some((l) => /\/boot\/efi\s+msdosfs\s+remount ro \[\/etc\/p:2\]: /.test(l)), planLines(fromFile).join('\n'));
  // A flag naming the same mount point wins over the file.
  const flagged = planMounts(entries, 'freebsd', { rules, syncIfBusy: ['/boot/efi'], sync: ['/home'] });
  assert.equal(flagged.mounts.find((m) => m.mountpoint === '/boot/efi')?.ifBusy, 'sync');
  assert.equal(flagged.mounts.find((m) => m.mountpoint === '/boot/efi')?.origin, '--fs-sync-if-busy /boot/efi');
  assert.equal(flagged.mounts.find((m) => m.mountpoint === '/home')?.action, 'sync');
  // On a writable file system hvvss has no rule for, the admin may choose the remount: CHECK then passes.
  const fuse = planMounts(parseMountinfo(LINUX_MOUNTINFO), 'linux', { skipIfBusy: ['/mnt/fuse'], remountRo: ['/mnt/loop disk'] });
  assert.deepEqual(fuse.problems, []);
  assert.deepEqual([fuse.mounts.find((m) => m.mountpoint === '/mnt/fuse')?.action, fuse.mounts.find((m) => m.mountpoint === '/mnt/fuse')?.ifBusy], ['remount-ro', 'skip']);
  assert.equal(fuse.mounts.find((m) => m.mountpoint === '/mnt/loop disk')?.action, 'remount-ro');
  assert.match(planMounts(parseMountinfo(LINUX_MOUNTINFO), 'linux').problems.join(), /--fs-remount-ro \/mnt\/fuse \(read-only for the freeze, if the file system allows it\)/);
});
