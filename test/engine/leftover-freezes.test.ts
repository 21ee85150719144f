// Which processes recovery stops before it thaws: `HOOK freeze` group leaders of the given hooks only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findLeftoverFreezes } from '../../src/engine/leftover-freezes.ts';

const PS = [
  '    1     1 /sbin/init',
  '  200   200 /bin/sh /etc/hvvss/hooks.d/10-db freeze',
  '  201   200 sleep 30',
  '  300   300 /etc/hvvss/hooks.d/20-app freeze',
  '  400   400 /bin/sh /etc/hvvss/hooks.d/10-db thaw',
  '  500   500 /bin/sh /etc/hvvss/hooks.d/10-db-other freeze',
  '  600   599 /bin/sh /etc/hvvss/hooks.d/10-db freeze',
  '  700   700 vi /etc/hvvss/hooks.d/10-db freeze notes',
].join('\n');

test('finds the freeze processes of the given hooks that lead their own group, and nothing else', () => {
  const found = findLeftoverFreezes(PS, ['/etc/hvvss/hooks.d/10-db', '/etc/hvvss/hooks.d/20-app'], 1);
  assert.deepEqual(found.map((p) => p.pid), [200, 300]);
});

test('never itself', () => {
  assert.deepEqual(findLeftoverFreezes(PS, ['/etc/hvvss/hooks.d/10-db'], 200), []);
});
