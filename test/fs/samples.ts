// Mount tables as the systems print them, written for these tests.

/** FreeBSD's official VM image (release/tools/vmimage.subr): UFS root and the ESP on msdosfs. */
export const FREEBSD_VM_IMAGE = `/dev/gpt/rootfs\t/\tufs\trw\t1 1
devfs\t/dev\tdevfs\trw,multilabel\t0 0
/dev/gpt/efiesp\t/boot/efi\tmsdosfs\trw\t2 2
`;

/** The installer's "Auto (ZFS)" layout, with a tmpfs /tmp, procfs, fdescfs and a nullfs jail mount. */
export const FREEBSD_ZFS = `zroot/ROOT/default\t/\tzfs\trw\t0 0
devfs\t/dev\tdevfs\trw,multilabel\t0 0
/dev/gpt/efiboot0\t/boot/efi\tmsdosfs\trw\t2 2
fdescfs\t/dev/fd\tfdescfs\trw\t0 0
procfs\t/proc\tprocfs\trw\t0 0
tmpfs\t/tmp\ttmpfs\trw,mode=01777\t0 0
zroot/home\t/home\tzfs\trw\t0 0
zroot/usr/src\t/usr/src\tzfs\trw\t0 0
/usr/src\t/jails/web/usr/src\tnullfs\tro\t0 0
server:/export\t/mnt/nfs\tnfs\trw\t0 0
`;

/** Two UFS file systems: hv_vss_daemon accepts them, then fails to freeze the second. */
export const FREEBSD_TWO_UFS = `/dev/ada0p2\t/\tufs\trw\t1 1
devfs\t/dev\tdevfs\trw\t0 0
/dev/ada0p4\t/var\tufs\trw,noatime\t2 2
/dev/ada0p5\t/usr/local\tufs\tro\t2 2
/dev/md0\t/mnt/my\\040disk\tufs\trw\t0 0
`;

/** A Debian guest: ext4 root, vfat ESP, a FUSE mount, an overmounted path and a space in a mount point. */
export const LINUX_MOUNTINFO = `22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
23 28 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw
24 28 0:5 / /dev rw,nosuid,relatime shared:2 - devtmpfs udev rw,size=4015548k,nr_inodes=1003887,mode=755
25 24 0:23 / /dev/pts rw,nosuid,noexec,relatime shared:3 - devpts devpts rw,gid=5,mode=620,ptmxmode=000
26 28 0:24 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw,size=806336k,mode=755
28 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
40 28 8:2 / /boot/efi rw,relatime shared:30 - vfat /dev/sda2 rw,fmask=0077,dmask=0077,codepage=437,iocharset=ascii,shortname=mixed,utf8,errors=remount-ro
41 28 8:3 / /srv/data rw,relatime shared:31 - xfs /dev/sda3 rw,attr2,inode64,logbufs=8,logbsize=32k,noquota
42 28 8:4 / /usr ro,relatime shared:32 - ext4 /dev/sda4 ro
43 28 0:40 / /mnt/remote rw,relatime shared:33 - fuse.sshfs user@host: rw,user_id=0,group_id=0
44 28 0:41 / /mnt/fuse rw,nosuid,nodev,relatime shared:34 - fuse.example example rw,user_id=0,group_id=0
45 28 7:0 / /mnt/loop\\040disk rw,relatime shared:35 - ext4 /dev/loop0 rw
46 28 0:42 / /srv/data rw,relatime shared:36 - tmpfs tmpfs rw
47 28 0:43 / /mnt/share rw,relatime shared:37 - nfs4 server:/export rw,vers=4.2
`;
