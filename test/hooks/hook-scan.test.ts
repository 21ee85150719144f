import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { scanHooks } from '../../src/hooks/hook-scan.ts';
import { checkAll, freezeAll } from '../../src/hooks/hook-sequence.ts';
import type { HookEntry, ScanResult } from '../../src/hooks/types.ts';
import { logging, sandbox } from './fixtures.ts';

const ROOT_ONLY = { trustedUids: [0] };

function entry(scan: ScanResult, name: string): HookEntry {
  const e = scan.entries.find((x) => x.name === name);
  assert.ok(e, `entry ${name} missing from scan`);
  return e;
}

test('skip rules: every entry is reported with why, sorted by name in byte order', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  await sb.hook('10-db', 'exit 0');
  await sb.hook('2-web', 'exit 0');
  await sb.hook('Zed', 'exit 0');
  await sb.hook('a_b', 'exit 0');
  await sb.hook('10-db.sample', 'exit 0');
  await sb.hook('10-db~', 'exit 0');
  await sb.hook('10-db.bak', 'exit 0');
  await sb.hook('10-db.dpkg-old', 'exit 0');
  await sb.hook('10-db.rpmnew', 'exit 0');
  await sb.hook('10-db.rpmsave', 'exit 0');
  await sb.hook('.hidden', 'exit 0');
  await sb.hook('has.dot', 'exit 0');
  await sb.hook('has space', 'exit 0');
  await sb.hook('50-noexec', 'exit 0', 0o644);
  await mkdir(path.join(sb.hooks, '60-dir'));

  const scan = await scanHooks(sb.hooks, ROOT_ONLY);
  assert.equal(scan.problem, undefined);
  assert.deepEqual(
    scan.entries.map((e) => e.name),
    ['.hidden', '10-db', '10-db.bak', '10-db.dpkg-old', '10-db.rpmnew', '10-db.rpmsave', '10-db.sample', '10-db~', '2-web', '50-noexec', '60-dir', 'Zed', 'a_b', 'has space', 'has.dot'],
  );
  assert.deepEqual(scan.runnable.map((e) => e.name), ['10-db', '2-web', 'Zed', 'a_b']);
  assert.deepEqual(scan.refused, []);
  const why = (n: string): string | undefined => {
    const e = entry(scan, n);
    assert.equal(e.verdict, 'skipped', `${n} should be skipped`);
    return e.why;
  };
  assert.match(why('10-db.sample') ?? '', /sample/);
  assert.match(why('10-db~') ?? '', /backup/);
  assert.match(why('10-db.bak') ?? '', /backup/);
  assert.match(why('10-db.dpkg-old') ?? '', /dpkg/);
  assert.match(why('10-db.rpmnew') ?? '', /rpmnew/);
  assert.match(why('10-db.rpmsave') ?? '', /rpmsave/);
  assert.match(why('.hidden') ?? '', /hidden/);
  assert.match(why('has.dot') ?? '', /characters/);
  assert.match(why('has space') ?? '', /characters/);
  assert.equal(why('50-noexec'), 'not executable (mode 0644)');
  assert.equal(why('60-dir'), 'directory');
});

test('group-writable hook is refused, and checkAll then runs nothing', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  await sb.hook('10-ok', logging(sb.log));
  await sb.hook('20-gw', logging(sb.log), 0o775);
  const scan = await scanHooks(sb.hooks, ROOT_ONLY);
  const e = entry(scan, '20-gw');
  assert.equal(e.verdict, 'refused');
  assert.equal(e.why, `group-writable (mode 0775); fix: chmod go-w ${sb.hooks}/20-gw`);
  assert.deepEqual(scan.refused.map((r) => r.name), ['20-gw']);

  const check = await checkAll(scan, { reason: 'manual' });
  assert.equal(check.ok, false);
  assert.deepEqual(check.results, []);
  assert.deepEqual(check.problems, [`hook 20-gw refused: group-writable (mode 0775); fix: chmod go-w ${sb.hooks}/20-gw`]);
  const freeze = await freezeAll(scan, { reason: 'host' });
  assert.equal(freeze.ok, false);
  assert.deepEqual(freeze.frozen, []);
  assert.deepEqual(await sb.readLog(), [], 'nothing may run');
});

test('world-writable hook is refused', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  await sb.hook('10-ww', 'exit 0', 0o757);
  const scan = await scanHooks(sb.hooks, ROOT_ONLY);
  assert.equal(entry(scan, '10-ww').verdict, 'refused');
  assert.equal(entry(scan, '10-ww').why, `world-writable (mode 0757); fix: chmod go-w ${sb.hooks}/10-ww`);
});

test('hook owned by another uid is refused, unless that uid is trusted', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const p = await sb.hook('10-nobody', 'exit 0');
  await chown(p, 65534, 65534);
  const scan = await scanHooks(sb.hooks, ROOT_ONLY);
  assert.equal(entry(scan, '10-nobody').verdict, 'refused');
  assert.equal(entry(scan, '10-nobody').why, `owned by uid 65534, not root; fix: chown root ${p}`);

  const scan2 = await scanHooks(sb.hooks, { trustedUids: [0, 4242] });
  assert.equal(entry(scan2, '10-nobody').why, `owned by uid 65534, not root or uid 4242; fix: chown root ${p}`);

  const trusted = await scanHooks(sb.hooks, { trustedUids: [0, 65534] });
  assert.equal(entry(trusted, '10-nobody').verdict, 'runnable');
});

test('world-writable directory is a scan-level problem and checkAll fails without running anything', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  await sb.hook('10-ok', logging(sb.log));
  await chmod(sb.hooks, 0o777);
  const scan = await scanHooks(sb.hooks, ROOT_ONLY);
  assert.equal(scan.problem?.kind, 'insecure');
  assert.equal(scan.problem?.message, `hooks directory ${sb.hooks} is world-writable (mode 0777); fix: chmod go-w ${sb.hooks}`);
  assert.equal(entry(scan, '10-ok').verdict, 'runnable', 'entries are still judged and reported');
  const check = await checkAll(scan, { reason: 'manual' });
  assert.equal(check.ok, false);
  assert.deepEqual(check.results, []);
  assert.deepEqual(await sb.readLog(), []);
});

test('directory owned by another uid is a scan-level problem', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  await chown(sb.hooks, 65534, 65534);
  const scan = await scanHooks(sb.hooks, ROOT_ONLY);
  assert.equal(scan.problem?.kind, 'insecure');
  assert.equal(scan.problem?.message, `hooks directory ${sb.hooks} is owned by uid 65534, not root; fix: chown root ${sb.hooks}`);
});

test('missing directory: no throw, reported as missing', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const scan = await scanHooks(path.join(sb.base, 'nope'), ROOT_ONLY);
  assert.equal(scan.problem?.kind, 'missing');
  assert.match(scan.problem?.message ?? '', /does not exist; fix: mkdir -p -m 0755 \S+$/);
  assert.deepEqual(scan.entries, []);
  assert.equal((await checkAll(scan, { reason: 'manual' })).ok, false);
});

test('symlink to a world-writable target is refused, naming the target', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const target = await sb.file('evil', '#!/bin/sh\nexit 0\n', 0o777);
  await symlink(target, path.join(sb.hooks, '10-link'));
  const scan = await scanHooks(sb.hooks, ROOT_ONLY);
  const e = entry(scan, '10-link');
  assert.equal(e.verdict, 'refused');
  assert.equal(e.why, `symlink to ${target} which is world-writable (mode 0777); fix: chmod go-w ${target}`);
});

test('symlink to a target owned by another uid is refused; dangling symlink is refused', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const target = await sb.file('theirs', '#!/bin/sh\nexit 0\n', 0o755);
  await chown(target, 65534, 65534);
  await symlink(target, path.join(sb.hooks, '10-link'));
  await symlink(path.join(sb.base, 'gone'), path.join(sb.hooks, '20-dangling'));
  const scan = await scanHooks(sb.hooks, ROOT_ONLY);
  assert.equal(entry(scan, '10-link').why, `symlink to ${target} which is owned by uid 65534, not root; fix: chown root ${target}`);
  assert.equal(entry(scan, '20-dangling').verdict, 'refused');
  assert.match(entry(scan, '20-dangling').why ?? '', /dangling/);
});

test('symlink to a good target is runnable and runs', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const target = await sb.file('real-hook', `#!/bin/sh\n${logging(sb.log)}\n`, 0o755);
  await symlink(target, path.join(sb.hooks, '10-link'));
  const scan = await scanHooks(sb.hooks, ROOT_ONLY);
  const e = entry(scan, '10-link');
  assert.equal(e.verdict, 'runnable');
  assert.equal(e.target, target);
  const check = await checkAll(scan, { reason: 'manual' });
  assert.equal(check.ok, true);
  assert.deepEqual(await sb.readLog(), ['10-link check manual']);
});
