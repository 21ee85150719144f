// The fs stage on real file systems this test made (loop mounts; --fs-include names them, so
// nothing else is ever touched), through the freeze engine and the real system calls. The ESP's
// vfat is remounted by default; this machine's kernel may have no vfat (a minimal VM kernel), so
// the remount rules run on ext2 with the admin's remount-ro policy (same mount(2) call, same
// EBUSY from the VFS while a file is open for writing), and the vfat case runs where it can:
//  - a mount goes read-only for the freeze (a write gets EROFS) and read-write after the thaw,
//    with its other mount options as they were;
//  - with a file open for writing the remount is refused (EBUSY) and the policy decides: by
//    default the freeze fails naming the mount, the cause and the fixes; skip-if-busy leaves it
//    out, sync-if-busy flushes it;
//  - a mount already read-only when the freeze comes is left alone, and stays read-only after;
//  - an xfs is frozen with FIFREEZE (a writer blocks) and thawed;
//  - a ZFS dataset of a FreeBSD plan (from a "mount -p" listing) gets "zpool sync POOL" from the
//    zpool found on PATH: here a stand-in that records its call.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { FreezeEngine } from '../../src/engine/freeze-engine.ts';
import { FreezeJournal } from '../../src/state/freeze-journal.ts';
import { AgentLogger, type LogLevel } from '../../src/log/logger.ts';
import { FsStage, loadedMountOps, systemMountOps, type MountOps } from '../../src/fs/fs-stage.ts';
import type { FsPolicy } from '../../src/fs/mount-plan.ts';
import { loadFsPolicy } from '../../src/fs/fs-policy.ts';
import { parseMountP } from '../../src/fs/mount-table.ts';
import { systemClock } from '../../src/util/clock.ts';
import { assertFreezable, loopMount, type LoopMount } from '../support/loop-fs.ts';
import { liveMount as live, writeError } from '../support/mount-state.ts';
import { within } from '../support/process.ts';
import { scratch } from '../state/scratch.ts';
import { blocked, loopTools, writer } from './writer.ts';
import { Hooks } from './recording-hooks.ts';
import { FREEBSD_ZFS } from './samples.ts';

/** The kernel's file systems: a minimal VM kernel may lack vfat (no module to load). */
function kernelHas(fsType: string): boolean {
  return readFileSync('/proc/filesystems', 'utf8').split('\n').some((l) => l.split('\t')[1] === fsType);
}

type Remounted = 'ext2' | 'vfat';

/** ext2 is remounted by the admin's remount-ro policy, vfat by default: the same policy otherwise. */
const remountPolicy = (fsType: string, mountpoint: string): FsPolicy => (fsType === 'ext2' ? { remountRo: [mountpoint] } : {});

async function setup(t: TestContext, fsType: Remounted | 'xfs', policyFor: (mountpoint: string) => FsPolicy = (mp) => remountPolicy(fsType, mp)) {
  if (!loopTools(t, ['losetup', `mkfs.${fsType}`])) return undefined;
  if (!kernelHas(fsType)) {
    // The kernel, not a package: nothing CI could install.
    t.skip(`this kernel has no ${fsType} (see /proc/filesystems)`);
    return undefined;
  }
  const mount: LoopMount = loopMount(fsType);
  /** Descriptors a test holds open on the mount: closed first in teardown. */
  const open: number[] = [];
  // Teardown, in order: close what the test holds open, read-write again, then unmount.
  t.after(() => {
    for (const fd of open.splice(0)) closeSync(fd);
    if (fsType !== 'xfs' && live(mount.mountpoint).readOnly) execFileSync('mount', ['-o', 'remount,rw', mount.mountpoint]);
    mount.cleanup();
  });
  assertFreezable(mount.mountpoint);
  const calls: string[] = [];
  const real = await loadedMountOps();
  // The real calls, recorded: the order of what the stage did is part of what is checked.
  const ops: MountOps = {
    ...real,
    run: async (file, args, timeoutMs) => {
      calls.push(`${file} ${args.join(' ')}`);
      await real.run(file, args, timeoutMs);
    },
  };
  const lines: Array<[LogLevel, string]> = [];
  const log = new AgentLogger({ write: (level, message) => lines.push([level, message]) });
  const fs = new FsStage({ policy: { ...policyFor(mount.mountpoint), include: [mount.mountpoint] }, log, clock: systemClock, os: 'linux', ops });
  const journal = new FreezeJournal(join(scratch(t), 'frozen.json'));
  const engine = new FreezeEngine({ hooks: new Hooks(calls), journal, clock: systemClock, log, holder: { kind: 'daemon', pid: process.pid }, fs, stopLeftovers: async () => [] });
  return { mount, engine, journal, calls, lines, fs, open };
}

/** A file on the mount held open for writing until the test ends. */
function holdOpen(s: { readonly mount: LoopMount; readonly open: number[] }): void {
  s.open.push(openSync(join(s.mount.mountpoint, 'open-for-writing'), 'w'));
}

for (const fsType of ['ext2', 'vfat'] as const) {
  test(`${fsType}: read-only during the freeze (a write gets EROFS), read-write after the thaw, its options as before`, async (t) => {
    const s = await setup(t, fsType);
    if (!s) return;
    const before = live(s.mount.mountpoint);
    assert.equal(before.readOnly, false);
    const attempt = await s.engine.freeze({ reason: 'host', msgid: '1' });
    assert.equal(attempt.ok, true, JSON.stringify(attempt));
    assert.equal(live(s.mount.mountpoint).readOnly, true);
    assert.equal(writeError(s.mount.mountpoint), 'EROFS');
    assert.deepEqual(s.journal.read()?.mounts, [{ mountpoint: s.mount.mountpoint, fstype: fsType, action: 'remount-ro' }]);
    const thaw = await s.engine.thaw('host');
    assert.equal(thaw.ok, true, JSON.stringify(thaw));
    assert.equal(writeError(s.mount.mountpoint), undefined);
    assert.deepEqual(live(s.mount.mountpoint).options, before.options);
    assert.equal(s.journal.read(), undefined);
    assert.ok(s.lines.some(([, m]) => m.startsWith(`remounted ${s.mount.mountpoint} (${fsType}) read-only`)));
    assert.ok(s.lines.some(([, m]) => m === `remounted ${s.mount.mountpoint} (${fsType}) read-write`));
  });

  test(`${fsType} with a file open for writing, default policy: the freeze fails naming the mount, EBUSY and the fixes; the hooks are rolled back`, async (t) => {
    const s = await setup(t, fsType);
    if (!s) return;
    holdOpen(s);
    const attempt = await s.engine.freeze({ reason: 'host', msgid: '1' });
    assert.equal(attempt.ok, false);
    const problem = attempt.result.problems.join('; ');
    const mp = s.mount.mountpoint;
    assert.match(problem, new RegExp(`cannot remount ${mp} \\(${fsType}\\) read-only: a file on it is open for writing \\(EBUSY\\)`));
    assert.match(problem, new RegExp(`fuser -vm ${mp}.*"${mp} sync-if-busy".*"${mp} skip-if-busy".*/etc/hvvss/fs-policy \\(or --fs-policy FILE\\).*--fs-skip ${mp}`));
    assert.equal(live(mp).readOnly, false);
    await s.engine.thaw('rollback');
    assert.deepEqual(s.calls, ['hook freeze host', 'hook thaw 10-db rollback']);
    assert.equal(s.journal.read(), undefined);
  });

  test(`${fsType} with a file open for writing, skip-if-busy: left out (still writable), the freeze goes on`, async (t) => {
    const s = await setup(t, fsType, (mountpoint) => ({ skipIfBusy: [mountpoint] }));
    if (!s) return;
    holdOpen(s);
    const outcome = await s.fs.freeze(s.fs.freezeOrder(await s.fs.plan()));
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    assert.deepEqual(outcome.held, []);
    assert.match(outcome.results[0]?.note ?? '', new RegExp(`open for writing: left out \\(--fs-skip-if-busy ${s.mount.mountpoint}\\)`));
    assert.equal(live(s.mount.mountpoint).readOnly, false);
  });

  test(`${fsType} with a file open for writing, sync-if-busy from a policy file: flushed (sync -f), not held`, async (t) => {
    const file = join(scratch(t), 'fs-policy');
    const s = await setup(t, fsType, (mountpoint) => {
      writeFileSync(file, `# the test's mount\n${mountpoint} sync-if-busy\n`, { mode: 0o644 });
      return loadFsPolicy({ 'fs-policy': file }, [0]);
    });
    if (!s) return;
    holdOpen(s);
    const plan = await s.fs.plan();
    assert.equal(plan.mounts.find((m) => m.mountpoint === s.mount.mountpoint)?.origin, `${file}:2`);
    const outcome = await s.fs.freeze(s.fs.freezeOrder(plan));
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    assert.deepEqual(outcome.held, []);
    assert.deepEqual(s.calls, [`sync -f ${s.mount.mountpoint}`]);
    assert.match(outcome.results[0]?.note ?? '', new RegExp(`flushed only \\(${file}:2\\)`));
  });

  test(`a ${fsType} already read-only when the freeze comes is left alone, and not made read-write at the thaw`, async (t) => {
    const s = await setup(t, fsType);
    if (!s) return;
    // Planned while read-write, read-only by the time the mounts are acted on (an admin, a race).
    const mounts = s.fs.freezeOrder(await s.fs.plan());
    execFileSync('mount', ['-o', 'remount,ro', s.mount.mountpoint]);
    const outcome = await s.fs.freeze(mounts);
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    assert.deepEqual(outcome.held, []);
    assert.equal(outcome.results[0]?.note, 'already read-only: left as it is');
    await s.fs.thaw(outcome.held);
    assert.equal(live(s.mount.mountpoint).readOnly, true);
  });
}

test('xfs: frozen with FIFREEZE (a writer blocks), thawed (it completes)', async (t) => {
  const s = await setup(t, 'xfs');
  if (!s) return;
  const attempt = await s.engine.freeze({ reason: 'host', msgid: '1' });
  assert.equal(attempt.ok, true, JSON.stringify(attempt));
  assert.deepEqual(s.engine.frozen?.mounts.map((m) => `${m.fstype} ${m.action}`), ['xfs fifreeze']);
  const w = writer(s.mount.mountpoint);
  await blocked(w);
  assert.equal((await s.engine.thaw('host')).ok, true);
  assert.equal((await within(w.exited, 10_000, 'the writer after the thaw')).code, 0);
});

test('ZFS in a FreeBSD plan ("mount -p" listing): "zpool sync POOL" once per pool, run from PATH', async (t) => {
  const dir = scratch(t);
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const record = join(dir, 'zpool-calls');
  writeFileSync(join(bin, 'zpool'), `#!/bin/sh\necho "$*" >> ${record}\n`);
  chmodSync(join(bin, 'zpool'), 0o755);
  const path = process.env.PATH;
  process.env.PATH = `${bin}:${path}`;
  t.after(() => {
    process.env.PATH = path;
  });
  const fs = new FsStage({
    policy: { include: ['/', '/home', '/usr/src'] },
    log: new AgentLogger({ write: () => {} }),
    clock: systemClock,
    os: 'freebsd',
    ops: systemMountOps(),
    readTable: async () => parseMountP(FREEBSD_ZFS),
  });
  const plan = await fs.plan();
  assert.deepEqual(fs.problems(plan), []);
  const outcome = await fs.freeze(fs.freezeOrder(plan));
  assert.equal(outcome.ok, true, JSON.stringify(outcome));
  assert.deepEqual(outcome.held, []);
  assert.equal(readFileSync(record, 'utf8'), 'sync zroot\n');
});
