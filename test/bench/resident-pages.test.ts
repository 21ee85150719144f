// bench/resident-pages.ts against two real Node processes: one that has loaded and run node:zlib
// and one that has not. The first holds pages of the binary the second does not, and among them
// zlib's JavaScript (its source or its code cache) is named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { residentDiff } from '../../bench/resident-pages.ts';
import { WatchedProcess } from '../support/process.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { missing } from '../support/requirements.ts';
import { spawnSync } from 'node:child_process';

const defer = cleanupsPerTest();

async function node(script: string): Promise<number> {
  const proc = new WatchedProcess(process.execPath, ['-e', `${script}; setInterval(() => {}, 1 << 30); console.log('ready')`]);
  defer(() => proc.stop('SIGKILL'));
  await proc.waitForLine(/^ready$/);
  return proc.child.pid!;
}

test('the pages a process holds beyond another are counted and named: zlib\'s JavaScript in one that ran it', { skip: (process.platform !== 'linux' || process.getuid?.() !== 0) && 'reads /proc/PID/pagemap: Linux, as root' }, async (t) => {
  if (spawnSync('nm', ['--version']).error || spawnSync('readelf', ['--version']).error) return missing(t, 'nm and readelf are not installed (Debian package binutils)');
  const bare = await node('0');
  const zlib = await node("require('node:zlib').deflateSync(Buffer.from('hvvss'))");
  const diff = residentDiff(zlib, bare);
  assert.ok(diff.extraKiB > 0, 'it holds pages the bare process does not');
  assert.equal(diff.groups.reduce((sum, [, kib]) => sum + kib, 0), diff.extraKiB, 'every extra page is in one group');
  const named = diff.sources.flatMap((run) => run.names).join(' ');
  assert.match(named, /zlib|Zlib|deflate/i, `zlib's source or code cache is named among: ${named.slice(0, 400)}`);
});
