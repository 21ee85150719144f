import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, fstatSync, linkSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openPrivateFile, readPrivateFile } from '../../src/state/private-file.ts';
import { StatePathError, type StatePathProblem } from '../../src/state/state-path-error.ts';
import { asNobody, NOBODY, scratch } from './scratch.ts';

const ROOT = [0];

function refused(fn: () => unknown, problem: StatePathProblem): StatePathError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof StatePathError, `expected a StatePathError, got ${String(err)}`);
    assert.equal(err.problem, problem, err.message);
    return err;
  }
  assert.fail(`expected a refusal (${problem})`);
}

function privateFile(dir: string, name: string, text: string, mode = 0o600): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  chmodSync(p, mode);
  return p;
}

test('readPrivateFile: the text of a root-owned 0600 file; undefined when missing', (t) => {
  const dir = scratch(t);
  const p = privateFile(dir, 'frozen.json', '{"frozen":false}\n');
  assert.equal(readPrivateFile(p, { maxBytes: 1024, trustedUids: ROOT }), '{"frozen":false}\n');
  assert.equal(readPrivateFile(join(dir, 'nope'), { maxBytes: 1024, trustedUids: ROOT }), undefined);
});

test('readPrivateFile: a symlink is refused, even to a good file, with the fix', (t) => {
  const dir = scratch(t);
  const good = privateFile(dir, 'good', '{}\n');
  const link = join(dir, 'frozen.json');
  symlinkSync(good, link);
  const err = refused(() => readPrivateFile(link, { maxBytes: 1024, trustedUids: ROOT }), 'symlink');
  assert.equal(err.message, `${link} is a symbolic link, which root never follows in its state directory (someone may have planted it); fix: rm ${link}`);
});

test('readPrivateFile: larger than maxBytes is refused', (t) => {
  const dir = scratch(t);
  const p = privateFile(dir, 'frozen.json', 'x'.repeat(2000));
  const err = refused(() => readPrivateFile(p, { maxBytes: 1024, trustedUids: ROOT }), 'too-big');
  assert.match(err.message, /is 2000 bytes, more than the 1024 it can hold; fix: inspect it, then remove it: rm /);
  assert.equal(readPrivateFile(p, { maxBytes: 2000, trustedUids: ROOT })?.length, 2000, 'exactly maxBytes is fine');
});

test('readPrivateFile: a file written by another user is refused, naming owner and fix', (t) => {
  const dir = scratch(t);
  chmodSync(dir, 0o777);
  const p = join(dir, 'frozen.json');
  // The plant of issue 9: a user writes a journal naming their program.
  assert.equal(asNobody(`echo '{"frozen":true,"hooks":[{"name":"x","path":"/tmp/evil"}]}' > '${p}'`).ok, true);
  const err = refused(() => readPrivateFile(p, { maxBytes: 1024, trustedUids: ROOT }), 'insecure');
  assert.equal(err.message, `${p} is owned by uid 65534, not root (someone else may have written it: check what it says); fix: chown root ${p}`);
});

test('readPrivateFile: group-writable is refused; hard-linked is refused; a FIFO is refused without hanging', (t) => {
  const dir = scratch(t);
  const gw = privateFile(dir, 'gw', '{}', 0o660);
  assert.match(refused(() => readPrivateFile(gw, { maxBytes: 1024, trustedUids: ROOT }), 'insecure').message, /group-writable \(mode 0660\).*; fix: chmod go-w /);

  const other = privateFile(dir, 'other', '{}');
  const linked = join(dir, 'linked');
  linkSync(other, linked);
  assert.equal(refused(() => readPrivateFile(linked, { maxBytes: 1024, trustedUids: ROOT }), 'hard-linked').fix, `rm ${linked}`);

  const fifo = join(dir, 'fifo');
  assert.equal(spawnSync('mkfifo', ['-m', '0600', fifo]).status, 0);
  assert.match(refused(() => readPrivateFile(fifo, { maxBytes: 1024, trustedUids: ROOT }), 'wrong-type').message, /is a FIFO, not a regular file/);
});

test('openPrivateFile: creates 0600 (or the mode asked), reopens an existing good file', (t) => {
  const dir = scratch(t);
  const p = join(dir, 'hooks.lock');
  const fd = openPrivateFile(p, { trustedUids: ROOT });
  assert.equal(fstatSync(fd).mode & 0o7777, 0o600);
  closeSync(fd);
  closeSync(openPrivateFile(p, { trustedUids: ROOT }));
  const pid = join(dir, 'hvvss.pid');
  const fd2 = openPrivateFile(pid, { trustedUids: ROOT, mode: 0o644 });
  assert.equal(fstatSync(fd2).mode & 0o7777, 0o644);
  closeSync(fd2);
});

test('openPrivateFile: a planted symlink (dangling or not) is refused: nothing is created or opened through it', (t) => {
  const dir = scratch(t);
  const victim = privateFile(dir, 'victim', 'precious\n');
  const p = join(dir, 'hooks.lock');
  symlinkSync(victim, p);
  refused(() => openPrivateFile(p, { trustedUids: ROOT }), 'symlink');
  assert.equal(readFileSync(victim, 'utf8'), 'precious\n');

  const dangling = join(dir, 'hvvss.pid');
  const wouldBeCreated = join(dir, 'created-as-root');
  symlinkSync(wouldBeCreated, dangling);
  refused(() => openPrivateFile(dangling, { trustedUids: ROOT }), 'symlink');
  assert.equal(existsSync(wouldBeCreated), false);
});

test('openPrivateFile: another user\'s file or a hard link to another file is refused', (t) => {
  const dir = scratch(t);
  const theirs = privateFile(dir, 'hooks.lock', '');
  chownSync(theirs, NOBODY, NOBODY);
  assert.match(refused(() => openPrivateFile(theirs, { trustedUids: ROOT }), 'insecure').message, /owned by uid 65534, not root.*; fix: chown root /);

  const victim = privateFile(dir, 'victim', 'precious\n');
  const linked = join(dir, 'hvvss.pid');
  linkSync(victim, linked);
  refused(() => openPrivateFile(linked, { trustedUids: ROOT }), 'hard-linked');
  assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
});
