import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prepareStateDir } from '../../src/state/state-dir.ts';
import { StatePathError } from '../../src/state/state-path-error.ts';
import { asNobody, NOBODY, scratch } from './scratch.ts';

const ROOT = [0];

function refusal(fn: () => unknown): StatePathError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof StatePathError, `expected a StatePathError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a refusal');
}

test('a missing state directory is created 0700, its missing parents 0755', (t) => {
  const base = scratch(t);
  const dir = join(base, 'var', 'db', 'hvvss');
  assert.equal(prepareStateDir(dir, ROOT), dir);
  assert.equal(statSync(dir).mode & 0o7777, 0o700);
  assert.equal(statSync(join(base, 'var')).mode & 0o7777, 0o755);
  assert.equal(statSync(join(base, 'var', 'db')).mode & 0o7777, 0o755);
  assert.equal(statSync(dir).uid, 0);
  // Idempotent: a second start finds it as it left it.
  assert.equal(prepareStateDir(dir, ROOT), dir);
});

test('a world-writable state directory is refused with the fix, and nothing is written in it', (t) => {
  const base = scratch(t);
  const dir = join(base, 'state');
  mkdirSync(dir);
  chmodSync(dir, 0o777);
  // What it would allow: any user can plant a freeze journal naming their program.
  assert.equal(asNobody(`echo planted > '${dir}/frozen.json'`).ok, true);
  const err = refusal(() => prepareStateDir(dir, ROOT));
  assert.equal(err.problem, 'insecure');
  assert.equal(err.message, `the state directory ${dir} is world-writable (mode 0777): anyone who can write it could plant files root acts on; fix: chmod go-w ${dir}`);
  assert.equal(err.fix, `chmod go-w ${dir}`);
  assert.equal(statSync(dir).mode & 0o7777, 0o777, 'refused, not silently changed');
});

test('group-writable and sticky 1777 state directories are refused too', (t) => {
  const base = scratch(t);
  for (const mode of [0o770, 0o1777]) {
    const dir = join(base, `state-${mode.toString(8)}`);
    mkdirSync(dir);
    chmodSync(dir, mode);
    const err = refusal(() => prepareStateDir(dir, ROOT));
    assert.equal(err.problem, 'insecure', mode.toString(8));
    assert.match(err.message, /fix: chmod go-w /);
  }
});

test('an existing 0755 root directory is accepted as it is', (t) => {
  const base = scratch(t);
  const dir = join(base, 'state');
  mkdirSync(dir);
  chmodSync(dir, 0o755);
  assert.equal(prepareStateDir(dir, ROOT), dir);
  assert.equal(statSync(dir).mode & 0o7777, 0o755);
});

test('a state directory owned by another user is refused: chown root', (t) => {
  const base = scratch(t);
  const dir = join(base, 'state');
  mkdirSync(dir, { mode: 0o700 });
  chownSync(dir, NOBODY, NOBODY);
  const err = refusal(() => prepareStateDir(dir, ROOT));
  assert.equal(err.message, `the state directory ${dir} is owned by uid 65534, not root: anyone who can write it could plant files root acts on; fix: chown root ${dir}`);
  assert.equal(prepareStateDir(dir, [0, NOBODY]), dir, 'unless that uid is trusted (the daemon runs as it)');
});

test('below a user-owned directory: refused, and not even created there', (t) => {
  const base = scratch(t);
  const theirs = join(base, 'theirs');
  mkdirSync(theirs);
  chmodSync(theirs, 0o755);
  chownSync(theirs, NOBODY, NOBODY);
  const dir = join(theirs, 'state');
  const err = refusal(() => prepareStateDir(dir, ROOT));
  assert.equal(err.problem, 'insecure');
  assert.equal(
    err.message,
    `the state directory ${dir} is reached through ${theirs}, which is owned by uid 65534, not root, mode 0755: whoever can change it could plant files root acts on; fix: chown root ${theirs}`,
  );
  assert.equal(existsSync(dir), false);
});

test('a symlinked state directory is judged by its real path; a file in its place is refused', (t) => {
  const base = scratch(t);
  const real = join(base, 'real');
  mkdirSync(real, { mode: 0o700 });
  symlinkSync(real, join(base, 'link'));
  assert.equal(prepareStateDir(join(base, 'link'), ROOT), real);

  const file = join(base, 'file');
  writeFileSync(file, '');
  const err = refusal(() => prepareStateDir(file, ROOT));
  assert.equal(err.problem, 'wrong-type');
  assert.match(err.message, /is a file; fix: move it away/);
});

test('the run directory: created 0755 when asked, labelled in messages', (t) => {
  const base = scratch(t);
  const dir = join(base, 'run');
  prepareStateDir(dir, ROOT, { mode: 0o755, label: 'run directory' });
  assert.equal(statSync(dir).mode & 0o7777, 0o755);
  chmodSync(dir, 0o777);
  assert.match(refusal(() => prepareStateDir(dir, ROOT, { label: 'run directory' })).message, /^the run directory .* is world-writable/);
});
