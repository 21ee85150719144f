import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePrivateFileAtomic, writePrivateFileAtomicSync } from '../../src/state/atomic-write.ts';
import { scratch } from './scratch.ts';

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

test('temporary names are hidden, next to the target, and not guessable: a fresh random part each time', async (t) => {
  const dir = scratch(t);
  const target = join(dir, 'frozen.json');
  // The names the writer creates, seen as a watcher of the directory sees them.
  const seen = new Set<string>();
  const watcher = watch(dir, (_event, name) => {
    if (name && name !== 'frozen.json') seen.add(String(name));
  });
  try {
    for (let i = 0; i < 50; i++) await writePrivateFileAtomic(target, `record ${i}\n`);
    // The watcher reports asynchronously: wait for the last write's temp name to be seen.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    watcher.close();
  }
  assert.ok(seen.size >= 2, `temp names seen: ${[...seen].join(', ')}`);
  for (const name of seen) assert.match(name, /^\.frozen\.json\.[0-9a-f]{16}$/);
  assert.deepEqual(readdirSync(dir), ['frozen.json'], 'no temp file is left behind');
});

