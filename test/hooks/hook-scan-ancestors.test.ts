// The directories on the way to the hooks (and to each symlinked hook's target) must be ones
// no other user can change. Unprivileged owners are `nobody` (uid 65534), set with chown: no
// user is created. Where the point is what such a user could do, the act runs as that uid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, renameSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { judgeHook, scanHooks } from '../../src/hooks/hook-scan.ts';
import { resolveTrusted } from '../../src/hooks/trusted-path.ts';
import type { HookEntry, ScanResult } from '../../src/hooks/types.ts';
import { sandbox, type Sandbox } from './fixtures.ts';

const ROOT_ONLY = { trustedUids: [0] };
const NOBODY = 65534;

function entry(scan: ScanResult, name: string): HookEntry {
  const e = scan.entries.find((x) => x.name === name);
  assert.ok(e, `entry ${name} missing from scan`);
  return e;
}

/** A directory under the sandbox with the given owner and mode. */
function dirAt(sb: Sandbox, rel: string, mode: number, uid = 0): string {
  const p = path.join(sb.base, rel);
  mkdirSync(p);
  chmodSync(p, mode);
  if (uid !== 0) chownSync(p, uid, uid);
  return p;
}

/** A secure hooks directory (root, 0755) at `dir` with one runnable hook `10-ok`. */
function hooksAt(dir: string): string {
  mkdirSync(dir);
  chmodSync(dir, 0o755);
  const hook = path.join(dir, '10-ok');
  spawnSync('sh', ['-c', `printf '#!/bin/sh\\nexit 0\\n' > '${hook}' && chmod 0755 '${hook}'`]);
  return dir;
}

/** Runs `argv` as nobody; true when it succeeded. */
function asNobody(argv: string[]): boolean {
  return spawnSync(argv[0] as string, argv.slice(1), { uid: NOBODY, gid: NOBODY, stdio: 'ignore' }).status === 0;
}

test('a sticky, world-writable root directory (like /tmp) is accepted when the entry below it is root-owned', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const sticky = dirAt(sb, 'tmp', 0o1777);
  const hooks = hooksAt(path.join(sticky, 'hooks.d'));
  const scan = await scanHooks(hooks, ROOT_ONLY);
  assert.equal(scan.problem, undefined, scan.problem?.message ?? '');
  assert.deepEqual(scan.runnable.map((e) => e.name), ['10-ok']);
  // Why it is safe: the sticky bit stops anyone else renaming the root-owned entry away.
  assert.equal(asNobody(['mv', hooks, path.join(sticky, 'moved')]), false, 'nobody must not be able to rename a root-owned entry of a sticky directory');
});

test('a sticky directory does not protect an entry owned by a user: refused, naming it, with the fix', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const sticky = dirAt(sb, 'tmp', 0o1777);
  const theirs = dirAt(sb, 'tmp/theirs', 0o755, NOBODY);
  const hooks = hooksAt(path.join(theirs, 'hooks.d'));
  const scan = await scanHooks(hooks, ROOT_ONLY);
  assert.equal(scan.problem?.kind, 'insecure');
  assert.equal(
    scan.problem?.message,
    `hooks directory ${hooks} is reached through ${theirs}, which is owned by uid 65534, not root, in ${sticky} (mode 1777), ` +
      `whose sticky bit protects only entries owned by root: whoever can change it can replace the hooks; fix: chown root ${theirs}`,
  );
});

test('a hooks directory below a user-owned directory is refused, naming it with owner and mode, ending with the fix', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const theirs = dirAt(sb, 'srv', 0o755, NOBODY);
  const hooks = hooksAt(path.join(theirs, 'hooks.d'));
  // Why it matters: that user can swap the root-owned hooks directory for one of their own.
  assert.equal(asNobody(['mv', hooks, path.join(theirs, 'old')]), true, 'the owner of the parent can rename the hooks directory away');
  renameSync(path.join(theirs, 'old'), hooks);

  const scan = await scanHooks(hooks, ROOT_ONLY);
  assert.equal(scan.problem?.kind, 'insecure');
  assert.equal(
    scan.problem?.message,
    `hooks directory ${hooks} is reached through ${theirs}, which is owned by uid 65534, not root, mode 0755: whoever can change it can replace the hooks; fix: chown root ${theirs}`,
  );
  assert.equal(entry(scan, '10-ok').verdict, 'runnable', 'entries are still listed for the admin');
});

test('a group-writable ancestor is refused, two levels up too', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const gw = dirAt(sb, 'etc', 0o775);
  const mid = dirAt(sb, 'etc/hvvss', 0o755);
  const hooks = hooksAt(path.join(mid, 'hooks.d'));
  const scan = await scanHooks(hooks, ROOT_ONLY);
  assert.equal(scan.problem?.kind, 'insecure');
  assert.match(scan.problem?.message ?? '', new RegExp(`reached through ${gw}, which is owned by root, mode 0775 \\(group-writable\\).*; fix: chmod go-w ${gw}$`));
});

test('a world-writable ancestor owned by a user needs both fixes', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const bad = dirAt(sb, 'bad', 0o777, NOBODY);
  const hooks = hooksAt(path.join(bad, 'hooks.d'));
  const scan = await scanHooks(hooks, ROOT_ONLY);
  assert.match(scan.problem?.message ?? '', new RegExp(`owned by uid 65534, not root, mode 0777 \\(world-writable\\).*; fix: chown root ${bad} && chmod go-w ${bad}$`));
});

test('a symlinked hooks directory is judged by its real path: fine when that is secure, refused when it lies below a user-owned directory', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const good = hooksAt(path.join(sb.base, 'real-hooks'));
  const goodLink = path.join(sb.base, 'good-link');
  symlinkSync(good, goodLink);
  const fine = await scanHooks(goodLink, ROOT_ONLY);
  assert.equal(fine.problem, undefined, fine.problem?.message ?? '');
  assert.deepEqual(fine.runnable.map((e) => e.name), ['10-ok']);

  const theirs = dirAt(sb, 'theirs', 0o755, NOBODY);
  const hidden = hooksAt(path.join(theirs, 'hooks.d'));
  const badLink = path.join(sb.base, 'bad-link');
  symlinkSync(hidden, badLink);
  const scan = await scanHooks(badLink, ROOT_ONLY);
  assert.equal(scan.problem?.kind, 'insecure');
  assert.match(scan.problem?.message ?? '', new RegExp(`^hooks directory ${badLink} is reached through ${theirs}, which is owned by uid 65534.*fix: chown root ${theirs}$`));
});

test('a symlinked hook whose target lies below a user-owned directory is refused with the fix', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const theirs = dirAt(sb, 'theirs', 0o755, NOBODY);
  const target = await sb.file('theirs/real-hook', '#!/bin/sh\nexit 0\n', 0o755);
  symlinkSync(target, path.join(sb.hooks, '10-link'));
  const scan = await scanHooks(sb.hooks, ROOT_ONLY);
  assert.equal(scan.problem, undefined);
  const e = entry(scan, '10-link');
  assert.equal(e.verdict, 'refused');
  assert.equal(e.why, `symlink to ${target} reached through ${theirs}, which is owned by uid 65534, not root, mode 0755; fix: chown root ${theirs}`);
  assert.deepEqual(scan.runnable, []);
});

test('every directory a symlink chain passes through counts, not only the final target\'s', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const real = await sb.file('real-hook', '#!/bin/sh\nexit 0\n', 0o755);
  const theirs = dirAt(sb, 'theirs', 0o755, NOBODY);
  // 10-link -> theirs/hop -> real-hook: the final target is secure, but nobody can repoint the hop.
  symlinkSync(real, path.join(theirs, 'hop'));
  symlinkSync(path.join(theirs, 'hop'), path.join(sb.hooks, '10-link'));
  const scan = await scanHooks(sb.hooks, ROOT_ONLY);
  const e = entry(scan, '10-link');
  assert.equal(e.verdict, 'refused');
  assert.match(e.why ?? '', new RegExp(`reached through ${theirs}, which is owned by uid 65534`));
});

test('resolveTrusted: relative links with .., loops, missing components', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const a = dirAt(sb, 'a', 0o755);
  const b = dirAt(sb, 'a/b', 0o755);
  symlinkSync('../c', path.join(b, 'up'));
  dirAt(sb, 'a/c', 0o755);
  const resolved = resolveTrusted(path.join(b, 'up'), [0]);
  assert.equal(resolved.kind, 'trusted');
  assert.equal(resolved.kind === 'trusted' && resolved.realPath, path.join(a, 'c'));

  symlinkSync('loop2', path.join(a, 'loop1'));
  symlinkSync('loop1', path.join(a, 'loop2'));
  const loop = resolveTrusted(path.join(a, 'loop1'), [0]);
  assert.deepEqual(loop.kind === 'failed' && loop.code, 'ELOOP');

  const missing = resolveTrusted(path.join(a, 'nope', 'deeper'), [0]);
  assert.deepEqual(missing, { kind: 'failed', code: 'ENOENT', at: path.join(a, 'nope') });
});

test('judgeHook: one hook by name relative to the configured directory, by the scan\'s rules', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  await sb.hook('10-ok', 'exit 0');
  await sb.hook('20-gw', 'exit 0', 0o775);
  await sb.hook('30-noexec', 'exit 0', 0o644);
  await sb.file('evil', '#!/bin/sh\nexit 0\n', 0o755);

  assert.deepEqual(judgeHook(sb.hooks, '10-ok', ROOT_ONLY), { name: '10-ok', path: path.join(sb.hooks, '10-ok'), verdict: 'runnable' });
  assert.equal(judgeHook(sb.hooks, '20-gw', ROOT_ONLY).verdict, 'refused');
  assert.equal(judgeHook(sb.hooks, '30-noexec', ROOT_ONLY).verdict, 'skipped');
  const gone = judgeHook(sb.hooks, '40-gone', ROOT_ONLY);
  assert.deepEqual([gone.verdict, gone.why], ['refused', 'does not exist']);
  // A name read from a file must not lead out of the hooks directory.
  for (const name of ['../evil', '/bin/sh', '..', 'a/b']) {
    const judged = judgeHook(sb.hooks, name, ROOT_ONLY);
    assert.equal(judged.verdict, 'refused', name);
    assert.match(judged.why ?? '', /not a hook name/);
  }
  // The directory's own security and its ancestors' count too.
  chownSync(sb.base, NOBODY, NOBODY);
  const below = judgeHook(sb.hooks, '10-ok', ROOT_ONLY);
  assert.equal(below.verdict, 'refused');
  assert.match(below.why ?? '', new RegExp(`reached through ${sb.base}, which is owned by uid 65534.*fix: chown root ${sb.base}$`));
});
