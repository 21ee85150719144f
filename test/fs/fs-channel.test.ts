// The fs stage on its own channel (hvvss registered on hv_fsvss_dev too): the host freeze freezes
// the hooks and names the mounts in the intent; freezeFs (the fs FREEZE) freezes the mounts
// without writing anything; thawFs (the fs THAW) thaws them; thaw (the app THAW, the watchdog, a
// rollback) thaws whatever is left, mounts first. Real engine and journal, fake hooks and mount
// operations over a fake mount table.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { fakeFsEngine } from './fake-fs-engine.ts';

const TABLE = `28 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
50 28 7:0 / /mnt/a rw,relatime - ext4 /dev/loop0 rw
51 50 7:1 / /mnt/a/b rw,relatime - xfs /dev/loop1 rw
`;

const setup = (t: TestContext, options: { readonly failFreeze?: string } = {}) => fakeFsEngine(t, { ...options, table: TABLE, include: ['/mnt/a', '/mnt/a/b'], fsChannel: true });

test('app FREEZE: hooks only, the intent names the mounts; fs FREEZE freezes them without a write; fs THAW thaws them; app THAW the hooks', async (t) => {
  const s = setup(t);
  const attempt = await s.engine.freeze({ reason: 'host', msgid: '7' });
  assert.equal(attempt.ok, true, JSON.stringify(attempt));
  assert.deepEqual(s.calls, ['hook freeze host']);
  assert.equal(s.engine.frozen?.mounts.length, 0, 'nothing of the fs stage is frozen yet');
  const intent = readFileSync(s.journal.path, 'utf8');
  assert.deepEqual((JSON.parse(intent) as { mounts: { mountpoint: string }[] }).mounts.map((m) => m.mountpoint), ['/mnt/a/b', '/mnt/a']);
  const written = statSync(s.journal.path).mtimeMs;
  const fs = await s.engine.freezeFs(undefined);
  assert.equal(fs.ok, true, JSON.stringify(fs));
  assert.deepEqual(s.engine.frozen?.mounts.map((m) => m.mountpoint), ['/mnt/a/b', '/mnt/a']);
  assert.equal(readFileSync(s.journal.path, 'utf8'), intent, 'the journal is not touched at the fs FREEZE');
  assert.equal(statSync(s.journal.path).mtimeMs, written);
  const fsThaw = await s.engine.thawFs();
  assert.equal(fsThaw.ok, true);
  assert.equal(s.frozen.size, 0);
  assert.ok(s.engine.frozen, 'the hooks stay frozen until the app THAW');
  assert.equal(readFileSync(s.journal.path, 'utf8'), intent, 'nor at the fs THAW');
  assert.equal((await s.engine.thaw('host')).ok, true);
  assert.deepEqual(s.calls, ['hook freeze host', 'FIFREEZE /mnt/a/b', 'FIFREEZE /mnt/a', 'FITHAW /mnt/a', 'FITHAW /mnt/a/b', 'hook thaw 10-db host']);
  assert.equal(s.journal.read(), undefined);
});

test('an fs FREEZE with no host freeze of the hooks (or after a manual one) is refused and freezes nothing', async (t) => {
  const s = setup(t);
  const alone = await s.engine.freezeFs(undefined);
  assert.equal(alone.ok, false);
  assert.match(alone.problems.join(), /no host freeze of the hooks is under way/);
  assert.equal((await s.engine.freeze({ reason: 'manual', msgid: '' })).ok, true);
  assert.equal((await s.engine.freezeFs(undefined)).ok, false);
  await s.engine.thaw('manual');
  assert.deepEqual(s.calls, ['hook freeze manual', 'hook thaw 10-db manual']);
});

test('an fs FREEZE that fails on the second mount thaws the first at once; the rollback thaws the hooks', async (t) => {
  const s = setup(t, { failFreeze: '/mnt/a' });
  assert.equal((await s.engine.freeze({ reason: 'host', msgid: '7' })).ok, true);
  const fs = await s.engine.freezeFs(undefined);
  assert.equal(fs.ok, false);
  assert.match(fs.problems.join(), /cannot freeze \/mnt\/a \(ext4\): FIFREEZE \/mnt\/a: EBUSY/);
  assert.equal(s.frozen.size, 0);
  await s.engine.thaw('rollback');
  assert.deepEqual(s.calls, ['hook freeze host', 'FIFREEZE /mnt/a/b', 'FITHAW /mnt/a/b', 'hook thaw 10-db rollback']);
  assert.equal(s.journal.read(), undefined);
});

test('no fs THAW (the watchdog, a shutdown): thaw thaws the mounts first, then the hooks; a later fs THAW finds nothing', async (t) => {
  const s = setup(t);
  await s.engine.freeze({ reason: 'host', msgid: '7' });
  await s.engine.freezeFs(undefined);
  assert.equal((await s.engine.thaw('watchdog')).ok, true);
  assert.deepEqual(s.calls.slice(-3), ['FITHAW /mnt/a', 'FITHAW /mnt/a/b', 'hook thaw 10-db watchdog']);
  assert.equal((await s.engine.thawFs()).ok, true);
  assert.equal(s.frozen.size, 0);
});

test('a thaw that comes while the fs FREEZE runs waits for it, then thaws its mounts too', async (t) => {
  const s = setup(t);
  await s.engine.freeze({ reason: 'host', msgid: '7' });
  const freezing = s.engine.freezeFs(undefined);
  const thawing = s.engine.thaw('shutdown');
  await freezing;
  assert.equal((await thawing).ok, true);
  assert.equal(s.frozen.size, 0);
  assert.deepEqual(s.calls.at(-1), 'hook thaw 10-db shutdown');
  assert.equal(s.journal.read(), undefined);
});
