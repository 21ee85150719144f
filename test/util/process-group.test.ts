// stopProcessGroup and groupAlive against real processes: a group whose only member is a zombie
// nobody reaps is gone, not alive (containers whose PID 1 never reaps leave such zombies).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groupAlive, stopProcessGroup } from '../../src/util/process-group.ts';
import { procStatFields, STAT } from '../../src/util/proc-stat.ts';
import { WatchedProcess, within } from '../support/process.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';

const cleanup = cleanupsPerTest();

const state = (pid: number): string | undefined => procStatFields(pid)?.[STAT.state];

/** Resolves once `pid` is a zombie, checking at each turn of the event loop (bounded by `within`). */
async function untilZombie(pid: number): Promise<void> {
  while (state(pid) !== 'Z') await new Promise((resolve) => setTimeout(resolve, 5));
}

test('a group whose only member is an unreaped zombie counts as gone, and stopping it signals nothing', { skip: process.platform !== 'linux' && 'zombies are told apart through /proc' }, async () => {
  // The background job makes its own group (setsid execs in place: a job of a non-interactive
  // shell is no group leader), prints its pid and exits; its parent has exec'ed sleep, which
  // never waits, so the job stays a zombie in a group of its own.
  const parent = new WatchedProcess('sh', ['-c', 'setsid sh -c \'echo $$\' & exec sleep 120']);
  cleanup(() => parent.child.kill('SIGKILL'));
  const pgid = Number(await parent.waitForLine(/^\d+$/));
  await within(untilZombie(pgid), 10_000, `process ${pgid} to become a zombie`);

  assert.equal(groupAlive(pgid), false);
  assert.equal(await stopProcessGroup(pgid, 5_000), 'none');
});

test('a running group is alive; SIGTERM ends it within the grace', async () => {
  const leader = new WatchedProcess('sh', ['-c', 'echo ready; exec sleep 120'], { detached: true });
  cleanup(() => leader.child.kill('SIGKILL'));
  await leader.waitForLine(/^ready$/);
  const pgid = leader.child.pid!;
  assert.equal(groupAlive(pgid), true);
  assert.equal(await stopProcessGroup(pgid, 10_000), 'terminated');
  await within(leader.exited, 10_000, 'the leader to exit');
  assert.equal(groupAlive(pgid), false);
});
