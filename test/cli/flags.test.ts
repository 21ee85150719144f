// The shared flags' parsing: durations refuse what is not a number of seconds, with a message
// naming the flag; path flags come out absolute (the keeper runs from /, status from anywhere).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { hooksDirFlag, positiveSeconds, socketFlag, stateDirFlag } from '../../src/cli/flags.ts';

test('durations: fractions and zero are fine; anything else is refused naming the flag', () => {
  assert.equal(positiveSeconds('--timeout', '2'), 2);
  assert.equal(positiveSeconds('--timeout', '0.5'), 0.5);
  assert.equal(positiveSeconds('--wait', '0'), 0);
  for (const bad of ['', ' ', 'abc', '-1', 'Infinity', '1e999', '2s']) {
    assert.throws(() => positiveSeconds('--timeout', bad), { message: `--timeout takes a number of seconds (e.g. 2 or 0.5); got ${JSON.stringify(bad)}` });
  }
});

test('path flags are absolute once parsed, from the flag or its environment variable alike', async () => {
  for (const flag of [hooksDirFlag, stateDirFlag, socketFlag]) {
    const parse = flag.parse as (input: string, context: unknown, options: unknown) => Promise<string>;
    assert.equal(await parse('relative/dir', {}, {}), resolve('relative/dir'));
    assert.equal(await parse('/abs/path', {}, {}), '/abs/path');
  }
});
