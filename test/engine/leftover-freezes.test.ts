// Recovery's first step, with real processes: the freeze hooks a dead holder left running are
// stopped (their whole process group), and nothing else is: not a thaw of the same hook, not a
// hook with a similar name, not a process that merely mentions the path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopLeftoverFreezes } from '../../src/engine/leftover-freezes.ts';
import { within } from '../support/process.ts';

function hook(dir: string, name: string): string {
  const path = join(dir, name);
  // A freeze that would take long, with a child of its own (its group must go too).
  writeFileSync(path, '#!/bin/sh\nsleep 30 &\nwait\n');
  chmodSync(path, 0o755);
  return path;
}

/** As the runner starts hooks: detached, so each leads its own process group. */
function start(args: string[]): ChildProcess {
  const child = spawn(args[0] as string, args.slice(1), { detached: true, stdio: 'ignore' });
  child.unref();
  return child;
}

const exited = (child: ChildProcess) => new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? `exit ${code}`)));

test('stops the HOOK freeze process groups of the given hooks, and only those', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hvvss-leftover-'));
  const children: ChildProcess[] = [];
  t.after(() => {
    for (const c of children) if (c.pid) try { process.kill(-c.pid, 'SIGKILL'); } catch { /* gone */ }
    rmSync(dir, { recursive: true, force: true });
  });
  const db = hook(dir, '10-db');
  const other = hook(dir, '10-db-other');
  const leftover = start([db, 'freeze']);
  const thaw = start([db, 'thaw']);
  const similar = start([other, 'freeze']);
  const mentions = start(['sh', '-c', `sleep 30; : ${db} freeze`]);
  children.push(leftover, thaw, similar, mentions);
  const leftoverExit = exited(leftover);
  const stopped = await stopLeftoverFreezes([db], 500);
  assert.deepEqual(stopped.map((p) => p.pid), [leftover.pid]);
  assert.equal(await within(leftoverExit, 5_000, 'the leftover freeze to exit'), 'SIGTERM');
  for (const survivor of [thaw, similar, mentions]) assert.equal(survivor.exitCode === null && survivor.signalCode === null, true, `${survivor.spawnargs.join(' ')} was stopped`);
});

test('nothing to look for: nothing runs ps, nothing is stopped', async () => {
  assert.deepEqual(await stopLeftoverFreezes([], 500), []);
});
