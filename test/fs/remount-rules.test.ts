// The remount rules through the freeze engine, on a fake mount table whose read-only flags the
// fake remounts change: remounts come first at freeze and last at thaw; a mount that fails to
// freeze after them remounts them read-write at once; recovery remounts read-write only what
// the journal names, is still mounted with the same type, and is read-only now.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { FreezeEngine } from '../../src/engine/freeze-engine.ts';
import { FreezeJournal } from '../../src/state/freeze-journal.ts';
import { AgentLogger, type LogLevel } from '../../src/log/logger.ts';
import { FsStage, recoverMounts, type MountOps } from '../../src/fs/fs-stage.ts';
import { parseMountinfo, parseMountP, type MountEntry } from '../../src/fs/mount-table.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { scratch } from '../state/scratch.ts';
import { Hooks } from './recording-hooks.ts';
import { FREEBSD_VM_IMAGE, FREEBSD_ZFS } from './samples.ts';

// FreeBSD's VM image with a second UFS and a second ESP-like mount.
const TABLE = `/dev/gpt/rootfs\t/\tufs\trw\t1 1
/dev/gpt/efiesp\t/boot/efi\tmsdosfs\trw\t2 2
/dev/ada1p1\t/mnt/fat\tmsdosfs\trw,noatime\t0 0
/dev/ada1p2\t/mnt/old\text2fs\tro\t0 0
`;

function setup(t: TestContext, options: { readonly busy?: string } = {}) {
  const entries: MountEntry[] = parseMountP(TABLE);
  const set = (mountpoint: string, readOnly: boolean) => {
    const i = entries.findIndex((e) => e.mountpoint === mountpoint);
    entries[i] = { ...(entries[i] as MountEntry), readOnly };
  };
  const calls: string[] = [];
  const ops: MountOps = {
    fifreeze: async () => assert.fail('nothing is frozen with FIFREEZE on FreeBSD'),
    fithaw: () => assert.fail('nothing is frozen with FIFREEZE on FreeBSD'),
    run: async (file, args) => void calls.push(`${file} ${args.join(' ')}`),
    liveMount: (mountpoint) => entries.filter((e) => e.mountpoint === mountpoint).at(-1),
    remountReadOnly: async (target) => {
      if (target.mountpoint === options.busy) throw Object.assign(new Error(`mount -u -o ro ${target.mountpoint}: EBUSY`), { code: 'EBUSY' });
      calls.push(`ro ${target.mountpoint}`);
      set(target.mountpoint, true);
    },
    remountReadWrite: (target) => {
      calls.push(`rw ${target.mountpoint}`);
      set(target.mountpoint, false);
    },
  };
  const clock = new FakeClock();
  const lines: Array<[LogLevel, string]> = [];
  const log = new AgentLogger({ write: (level, message) => lines.push([level, message]) });
  const readTable = async () => [...entries];
  const fs = new FsStage({ policy: { include: ['/boot/efi', '/mnt/fat', '/mnt/old'] }, log, clock, os: 'freebsd', ops, readTable });
  const journal = new FreezeJournal(join(scratch(t), 'frozen.json'));
  const engine = new FreezeEngine({
    hooks: new Hooks(calls), journal, clock, log, holder: { kind: 'daemon', pid: process.pid }, fs,
    recoverMounts: (recorded) => recoverMounts(recorded, { log, clock, os: 'freebsd', ops, readTable }),
    stopLeftovers: async () => [],
  });
  return { calls, engine, journal, lines, entries, set };
}

test('remounts come first at freeze and last at thaw, children first; a mount read-only before is never touched', async (t) => {
  const s = setup(t);
  assert.equal((await s.engine.freeze({ reason: 'host', msgid: '1' })).ok, true);
  assert.deepEqual(s.journal.read()?.mounts?.map((m) => `${m.mountpoint} ${m.action}`), ['/mnt/fat remount-ro', '/boot/efi remount-ro']);
  await s.engine.thaw('host');
  assert.deepEqual(s.calls, ['hook freeze host', 'ro /mnt/fat', 'ro /boot/efi', 'rw /boot/efi', 'rw /mnt/fat', 'hook thaw 10-db host']);
  assert.equal(s.entries.find((e) => e.mountpoint === '/mnt/old')?.readOnly, true);
});

test('busy by default: the freeze fails naming the mount and the fixes; the one remounted before it is read-write again at once', async (t) => {
  const s = setup(t, { busy: '/boot/efi' });
  const attempt = await s.engine.freeze({ reason: 'host', msgid: '1' });
  assert.equal(attempt.ok, false);
  assert.match(attempt.result.problems.join(), /cannot remount \/boot\/efi \(msdosfs\) read-only: a file on it is open for writing \(EBUSY\).*fstat -f \/boot\/efi.*"\/boot\/efi sync-if-busy".*\/usr\/local\/etc\/hvvss\/fs-policy|\/etc\/hvvss\/fs-policy/);
  assert.deepEqual(s.engine.frozen?.mounts, []);
  await s.engine.thaw('rollback');
  assert.deepEqual(s.calls, ['hook freeze host', 'ro /mnt/fat', 'rw /mnt/fat', 'hook thaw 10-db rollback']);
});

test('a mount that fails to freeze after the remounts: they are read-write again at once, the freeze fails', async () => {
  const table = `28 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n40 28 8:2 / /boot/efi rw,relatime - vfat /dev/sda2 rw,fmask=0077\n`;
  const entries = parseMountinfo(table);
  const calls: string[] = [];
  const ops: MountOps = {
    fifreeze: async (mountpoint) => {
      throw new Error(`FIFREEZE ${mountpoint}: EIO`);
    },
    fithaw: () => assert.fail('nothing was frozen'),
    run: async () => {},
    liveMount: (mountpoint) => entries.find((e) => e.mountpoint === mountpoint),
    remountReadOnly: async (target) => {
      calls.push(`ro ${target.mountpoint}`);
      entries[1] = { ...target, readOnly: true };
    },
    remountReadWrite: (target) => {
      calls.push(`rw ${target.mountpoint}`);
      entries[1] = { ...target, readOnly: false };
    },
  };
  const fs = new FsStage({ policy: {}, log: new AgentLogger({ write: () => {} }), clock: new FakeClock(), os: 'linux', ops, readTable: async () => [...entries] });
  const outcome = await fs.freeze(fs.freezeOrder(await fs.plan()));
  assert.equal(outcome.ok, false);
  assert.deepEqual(outcome.held, []);
  assert.match(outcome.problems.join(), /cannot freeze \/ \(ext4\): FIFREEZE \/: EIO/);
  assert.deepEqual(calls, ['ro /boot/efi', 'rw /boot/efi']);
});

test('recovery: read-write again only what the journal names, still mounted with the same type, and read-only now', async (t) => {
  const s = setup(t);
  s.set('/boot/efi', true);
  s.set('/mnt/fat', true);
  await s.journal.recordIntent({
    since: new Date().toISOString(), reason: 'host', msgid: '7', holder: { kind: 'daemon', pid: 999999 }, hooksDir: '/fake/hooks.d',
    hooks: [{ name: '10-db', path: '/fake/hooks.d/10-db' }],
    mounts: [
      { mountpoint: '/mnt/gone', fstype: 'msdosfs', action: 'remount-ro' },
      { mountpoint: '/mnt/old', fstype: 'msdosfs', action: 'remount-ro' },
      { mountpoint: '/mnt/fat', fstype: 'msdosfs', action: 'remount-ro' },
      { mountpoint: '/', fstype: 'ufs', action: 'remount-ro' },
      { mountpoint: '/boot/efi', fstype: 'msdosfs', action: 'remount-ro' },
    ],
  });
  const record = s.journal.read();
  assert.ok(record);
  const result = await s.engine.recover(record);
  assert.equal(result.ok, true, JSON.stringify(result));
  // Reverse order; /mnt/old is ext2fs now, / is read-write already, /mnt/gone is not mounted.
  assert.deepEqual(s.calls, ['rw /boot/efi', 'rw /mnt/fat', 'hook thaw 10-db recovery']);
  assert.ok(s.lines.some(([, m]) => /\/mnt\/old was remounted read-only as msdosfs and is now ext2fs: not touched/.test(m)));
  assert.ok(s.lines.some(([, m]) => /\/mnt\/gone \(msdosfs\) is no longer mounted/.test(m)));
  assert.equal(s.journal.read(), undefined);
});

test('a ZFS guest with the ESP (the installer\'s layout) needs no suspension helper: CHECK passes without one installed', async () => {
  const fs = new FsStage({
    policy: { include: ['/', '/boot/efi', '/home'] },
    log: new AgentLogger({ write: () => {} }),
    clock: new FakeClock(),
    os: 'freebsd',
    helper: '/nonexistent/hvvss-fsfreeze',
    readTable: async () => parseMountP(FREEBSD_ZFS),
  });
  const plan = await fs.plan();
  assert.deepEqual(fs.freezeOrder(plan).map((m) => `${m.mountpoint} ${m.action}`), ['/home zpool-sync', '/boot/efi remount-ro', '/ zpool-sync']);
  assert.deepEqual(fs.problems(plan), []);
  // A UFS mount does need it, and says so.
  const ufs = new FsStage({ policy: {}, log: new AgentLogger({ write: () => {} }), clock: new FakeClock(), os: 'freebsd', helper: '/nonexistent/hvvss-fsfreeze', readTable: async () => parseMountP(FREEBSD_VM_IMAGE) });
  assert.match((ufs.problems(await ufs.plan())).join(), /cannot freeze \/ \(ufs\): /);
});
