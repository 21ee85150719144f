// The fs stage inside the freeze engine, with the real engine and journal, fake hooks and fake
// mount operations over a fake mount table: the order (hooks, then file systems; file systems,
// then hooks), the write-ahead intent, the rollback of a failed second mount, recovery by the
// plan's rules, and a journal kept while a file system could not be thawed.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { FreezeEngine } from '../../src/engine/freeze-engine.ts';
import { FreezeJournal, JournalCorruptError } from '../../src/state/freeze-journal.ts';
import { AgentLogger } from '../../src/log/logger.ts';
import { FsStage, type MountOps } from '../../src/fs/fs-stage.ts';
import { parseMountinfo } from '../../src/fs/mount-table.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { scratch } from '../state/scratch.ts';
import { Hooks } from './recording-hooks.ts';
import { fakeFsEngine, type FakeFsOptions } from './fake-fs-engine.ts';

const TABLE = `28 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
50 28 7:0 / /mnt/a rw,relatime - ext4 /dev/loop0 rw
51 50 7:1 / /mnt/a/b rw,relatime - xfs /dev/loop1 rw
52 28 0:50 / /mnt/t rw,relatime - tmpfs tmpfs rw
53 28 0:51 / /mnt/fuse rw,relatime - fuse.example example rw
`;

const setup = (t: TestContext, include: string[], options: Partial<Omit<FakeFsOptions, 'include' | 'fsChannel'>> = {}) => fakeFsEngine(t, { ...options, table: options.table ?? TABLE, include });

test('freeze: hooks first, then the file systems, children before parents; thaw: file systems first, then hooks', async (t) => {
  const s = setup(t, ['/mnt/a', '/mnt/a/b', '/mnt/t']);
  const attempt = await s.engine.freeze({ reason: 'host', msgid: '7' });
  assert.equal(attempt.ok, true, JSON.stringify(attempt));
  assert.deepEqual(s.engine.frozen?.mounts.map((m) => m.mountpoint), ['/mnt/a/b', '/mnt/a']);
  const thaw = await s.engine.thaw('host');
  assert.equal(thaw.ok, true);
  assert.deepEqual(s.calls, ['hook freeze host', 'FIFREEZE /mnt/a/b', 'FIFREEZE /mnt/a', 'FITHAW /mnt/a', 'FITHAW /mnt/a/b', 'hook thaw 10-db host']);
  assert.equal(s.journal.read(), undefined);
});

test('the intent names the file systems before the first one is frozen (journal version 3)', async (t) => {
  const seen: unknown[] = [];
  const s = setup(t, ['/mnt/a', '/mnt/a/b'], { beforeFreeze: () => seen.push(s.journal.read()) });
  await s.engine.freeze({ reason: 'host', msgid: '7' });
  const first = seen[0] as { version: number; mounts: unknown };
  assert.equal(first.version, 3);
  assert.deepEqual(first.mounts, [{ mountpoint: '/mnt/a/b', fstype: 'xfs', action: 'fifreeze' }, { mountpoint: '/mnt/a', fstype: 'ext4', action: 'fifreeze' }]);
  await s.engine.thaw('host');
});

test('a failed second mount rolls back the first at once; the freeze fails and its rollback thaws the hooks', async (t) => {
  const s = setup(t, ['/mnt/a', '/mnt/a/b'], { failFreeze: '/mnt/a' });
  const attempt = await s.engine.freeze({ reason: 'host', msgid: '7' });
  assert.equal(attempt.ok, false);
  assert.match(attempt.result.problems.join('; '), /cannot freeze \/mnt\/a \(ext4\): FIFREEZE \/mnt\/a: EBUSY/);
  assert.deepEqual(s.engine.frozen?.mounts, []);
  assert.equal(s.frozen.size, 0, 'nothing left frozen');
  await s.engine.thaw('rollback');
  assert.deepEqual(s.calls, ['hook freeze host', 'FIFREEZE /mnt/a/b', 'FITHAW /mnt/a/b', 'hook thaw 10-db rollback']);
  assert.equal(s.journal.read(), undefined);
});

test('a refused mount fails the freeze before anything runs or is recorded; checkFs names it and the fix', async (t) => {
  const s = setup(t, ['/mnt/a', '/mnt/fuse']);
  assert.match((await s.engine.checkFs()).join(), /\/mnt\/fuse \(fuse\.example\).*--fs-sync \/mnt\/fuse.*--fs-skip \/mnt\/fuse/);
  const attempt = await s.engine.freeze({ reason: 'host', msgid: '7' });
  assert.equal(attempt.ok, false);
  assert.equal(s.engine.frozen, undefined);
  assert.deepEqual(s.calls, []);
  assert.equal(s.journal.read(), undefined);
});

test('recovery thaws, before the hooks, only what is still mounted as recorded', async (t) => {
  // /mnt/a/b is gone; /mnt/t is recorded as ext4 but is a tmpfs now; /mnt/a is as recorded.
  const s = setup(t, [], { table: TABLE.split('\n').filter((l) => !l.includes('/mnt/a/b')).join('\n') });
  s.frozen.add('/mnt/a');
  await s.journal.recordIntent({
    since: new Date().toISOString(), reason: 'host', msgid: '7', holder: { kind: 'daemon', pid: 999999 }, hooksDir: '/fake/hooks.d',
    hooks: [{ name: '10-db', path: '/fake/hooks.d/10-db' }],
    mounts: [{ mountpoint: '/mnt/a/b', fstype: 'xfs', action: 'fifreeze' }, { mountpoint: '/mnt/t', fstype: 'ext4', action: 'fifreeze' }, { mountpoint: '/mnt/a', fstype: 'ext4', action: 'fifreeze' }],
  });
  const record = s.journal.read();
  assert.ok(record);
  const result = await s.engine.recover(record);
  assert.equal(result.ok, true, JSON.stringify(result));
  assert.deepEqual(s.calls, ['FITHAW /mnt/a', 'hook thaw 10-db recovery']);
  assert.equal(s.frozen.size, 0);
  assert.ok(s.lines.some(([, m]) => /\/mnt\/a\/b \(xfs\), which is no longer mounted/.test(m)));
  assert.ok(s.lines.some(([, m]) => /\/mnt\/t is now tmpfs \(skip\): not touched/.test(m)));
  assert.equal(s.journal.read(), undefined);
});

test('a file system that cannot be thawed keeps the journal, so the next start tries again', async (t) => {
  const s = setup(t, ['/mnt/a'], { failThaw: '/mnt/a' });
  assert.equal((await s.engine.freeze({ reason: 'host', msgid: '7' })).ok, true);
  const thaw = await s.engine.thaw('watchdog');
  assert.equal(thaw.ok, false);
  assert.match(thaw.problems.join('; '), /cannot thaw \/mnt\/a \(ext4\).*fsfreeze -u \/mnt\/a.*journal .* is kept/);
  assert.deepEqual(s.journal.read()?.mounts, [{ mountpoint: '/mnt/a', fstype: 'ext4', action: 'fifreeze' }]);
  assert.deepEqual(s.calls, ['hook freeze host', 'FIFREEZE /mnt/a', 'hook thaw 10-db watchdog']);
});

test('the journal still reads version 2 records (hooks only) and refuses mounts it cannot trust', (t) => {
  const dir = scratch(t);
  const path = join(dir, 'frozen.json');
  const base = { frozen: true, since: '2026-01-01T00:00:00.000Z', reason: 'host', msgid: '1', holder: { pid: 1, kind: 'daemon' }, hooksDir: '/h', hooks: [{ name: 'a', path: '/h/a' }] };
  writeFileSync(path, JSON.stringify({ version: 2, ...base }), { mode: 0o600 });
  assert.equal(new FreezeJournal(path).read()?.mounts, undefined);
  writeFileSync(path, JSON.stringify({ version: 3, ...base, mounts: [{ mountpoint: 'relative', fstype: 'ext4', action: 'fifreeze' }] }), { mode: 0o600 });
  assert.throws(() => new FreezeJournal(path).read(), (err: unknown) => err instanceof JournalCorruptError && /absolute mount point/.test(err.message));
});

test('zpool sync once per pool and sync -f for --fs-sync; nothing held, nothing to thaw', async (t) => {
  const table = `28 1 0:30 / / rw - zfs zroot/ROOT/default rw\n29 28 0:31 / /home rw - zfs zroot/home rw\n53 28 0:51 / /mnt/fuse rw - fuse.example example rw\n`;
  const dir = scratch(t);
  const calls: string[] = [];
  const clock = new FakeClock();
  const log = new AgentLogger({ write: () => {} });
  const ops: MountOps = { fifreeze: async () => assert.fail('nothing to freeze'), fithaw: () => assert.fail('nothing to thaw'), run: async (file, args) => void calls.push(`${file} ${args.join(' ')}`) };
  const fs = new FsStage({ policy: { sync: ['/mnt/fuse'] }, log, clock, os: 'linux', ops, readTable: async () => parseMountinfo(table) });
  const engine = new FreezeEngine({ hooks: new Hooks(calls), journal: new FreezeJournal(join(dir, 'frozen.json')), clock, log, holder: { kind: 'daemon', pid: process.pid }, fs });
  assert.equal((await engine.freeze({ reason: 'host', msgid: '1' })).ok, true);
  assert.deepEqual(engine.frozen?.mounts, []);
  await engine.thaw('host');
  assert.deepEqual(calls, ['hook freeze host', 'sync -f /mnt/fuse', 'zpool sync zroot', 'hook thaw 10-db host']);
});

test('a manual freeze (hvvss freeze through the daemon) runs the hooks only: its command may write to the file systems', async (t) => {
  const s = setup(t, ['/mnt/a']);
  assert.equal((await s.engine.freeze({ reason: 'manual' })).ok, true);
  assert.deepEqual(s.engine.frozen?.mounts, []);
  await s.engine.thaw('manual');
  assert.deepEqual(s.calls, ['hook freeze manual', 'hook thaw 10-db manual']);
});
