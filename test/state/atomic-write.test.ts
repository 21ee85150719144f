import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createNewPrivateFileSync, tempNameFor, writePrivateFileAtomic, writePrivateFileAtomicSync } from '../../src/state/atomic-write.ts';
import { asNobody, scratch } from './scratch.ts';

const writers = [
  ['async', writePrivateFileAtomic],
  ['sync', async (target: string, data: string) => writePrivateFileAtomicSync(target, data)],
] as const;

for (const [kind, write] of writers) {
  test(`${kind}: writes the data, mode 0600, replacing the old file, leaving no temporary file`, async (t) => {
    const dir = scratch(t);
    const target = join(dir, 'frozen.json');
    await write(target, '{"frozen":true}\n');
    await write(target, '{"frozen":false}\n');
    assert.equal(readFileSync(target, 'utf8'), '{"frozen":false}\n');
    assert.equal(statSync(target).mode & 0o7777, 0o600);
    assert.deepEqual(readdirSync(dir), ['frozen.json']);
  });

  test(`${kind}: a symlink planted at the target is replaced, not followed`, async (t) => {
    const dir = scratch(t);
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious\n');
    const target = join(dir, 'frozen.json');
    symlinkSync(victim, target);
    await write(target, 'journal\n');
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n', 'the file the symlink pointed at is untouched');
    assert.equal(lstatSync(target).isFile(), true, 'the symlink itself was replaced by a regular file');
    assert.equal(readFileSync(target, 'utf8'), 'journal\n');
  });

  test(`${kind}: when the write fails, the temporary file is removed`, async (t) => {
    const dir = scratch(t);
    const target = join(dir, 'frozen.json');
    // rename(2) of a file over a non-empty directory fails: the failure comes after the temp exists.
    mkdirSync(target);
    writeFileSync(join(target, 'keep'), '');
    await assert.rejects(write(target, 'journal\n'));
    assert.deepEqual(readdirSync(dir), ['frozen.json']);
  });
}

test('temporary names are hidden, next to the target, and not guessable: a fresh random part each time', () => {
  const names = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const name = tempNameFor('/var/db/hvvss/frozen.json');
    assert.equal(dirname(name), '/var/db/hvvss');
    assert.match(basename(name), /^\.frozen\.json\.[0-9a-f]{16}$/);
    names.add(name);
  }
  assert.equal(names.size, 1000);
});

test('a symlink planted at a temporary name, even dangling, is never written through nor its target created', (t) => {
  const dir = scratch(t);
  chmodSync(dir, 0o777);
  const tmp = tempNameFor(join(dir, 'frozen.json'));
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'precious\n');
  // As the attacker would, with only their own rights.
  assert.equal(asNobody(`ln -s '${victim}' '${tmp}'`).ok, true);
  assert.throws(() => createNewPrivateFileSync(tmp), { code: 'EEXIST' });
  assert.equal(readFileSync(victim, 'utf8'), 'precious\n');

  const dangling = tempNameFor(join(dir, 'frozen.json'));
  const wouldBeCreated = join(dir, 'created-as-root');
  assert.equal(asNobody(`ln -s '${wouldBeCreated}' '${dangling}'`).ok, true);
  assert.throws(() => createNewPrivateFileSync(dangling), { code: 'EEXIST' });
  assert.equal(existsSync(wouldBeCreated), false, 'O_CREAT without O_EXCL would have created the target as root');

  const plainFile = tempNameFor(join(dir, 'frozen.json'));
  assert.equal(asNobody(`: > '${plainFile}'`).ok, true);
  assert.throws(() => createNewPrivateFileSync(plainFile), { code: 'EEXIST' });
});
