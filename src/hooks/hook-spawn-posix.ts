// The default hook spawner: posix_spawn(3) (src/native/spawn.ts), with hook-spawn.ts's semantics.
// The pipes are made here, close-on-exec, and handed to the child as its 0..3; our ends become
// Node streams (net.Socket over a pipe descriptor, what child_process makes of its own pipes).
import { Socket } from 'node:net';
import { close, pipe } from '../native/libc.ts';
import { posixSpawnProblem, spawnProcess, type ChildFd } from '../native/spawn.ts';
import { nodeHookSpawner } from './hook-spawn-node.ts';
import { failedToStart, type HookEnd, type HookSpawner } from './hook-spawn.ts';

function closeQuietly(fds: readonly number[]): void {
  for (const fd of fds) {
    try {
      close(fd);
    } catch {
      // EBADF cannot happen for descriptors made here; nothing to do about EIO on a pipe.
    }
  }
}

export const posixHookSpawner: HookSpawner = (path, op, env) => {
  const freeze = op === 'freeze';
  // [ours, the child's]: stdin is written by us; stdout, stderr and notify are read by us.
  const made: number[] = [];
  const pair = (childReads: boolean): { ours: number; theirs: number } => {
    const [readEnd, writeEnd] = pipe();
    made.push(readEnd, writeEnd);
    return childReads ? { ours: writeEnd, theirs: readEnd } : { ours: readEnd, theirs: writeEnd };
  };
  let stdin, stdout, stderr, notify;
  try {
    stdin = freeze ? pair(true) : undefined;
    stdout = pair(false);
    stderr = pair(false);
    notify = freeze ? pair(false) : undefined;
  } catch (err) {
    closeQuietly(made);
    return failedToStart(err instanceof Error ? err.message : String(err));
  }
  const fds: ChildFd[] = [stdin ? { from: stdin.theirs } : 'null', { from: stdout.theirs }, { from: stderr.theirs }];
  if (notify) fds.push({ from: notify.theirs });
  const ours = [stdin, stdout, stderr, notify].flatMap((p) => (p ? [p.ours] : []));
  let started;
  try {
    started = spawnProcess({ path, args: [op], env, cwd: '/', fds });
  } catch (err) {
    closeQuietly(ours);
    return failedToStart(err instanceof Error ? err.message : String(err));
  } finally {
    // The child has its copies (or there is no child): ours of its ends would keep the pipes open.
    closeQuietly([stdin, stdout, stderr, notify].flatMap((p) => (p ? [p.theirs] : [])));
  }
  const reader = (fd: number) => new Socket({ fd, readable: true, writable: false });
  return {
    pid: started.pid,
    stdin: stdin ? new Socket({ fd: stdin.ours, readable: false, writable: true }) : null,
    stdout: reader(stdout.ours),
    stderr: reader(stderr.ours),
    notify: notify ? reader(notify.ours) : null,
    ended: started.ended satisfies Promise<HookEnd>,
  };
};

/** posix_spawn where the C library has all it takes, else node:child_process (said once, by the caller's log). */
export function defaultHookSpawner(): { spawner: HookSpawner; fallback?: string } {
  const problem = posixSpawnProblem();
  return problem === undefined ? { spawner: posixHookSpawner } : { spawner: nodeHookSpawner, fallback: problem };
}
