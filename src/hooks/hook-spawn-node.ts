// The hook spawner over node:child_process, with hook-spawn.ts's semantics: where posix_spawn
// cannot be used (hook-spawn-posix.ts says when), and in the tests, which run every hook-runner
// case with each spawner.
import type { ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { childProcess } from '../util/builtins.ts';
import { NOTIFY_FD } from './hook-env.ts';
import { failedToStart, hookStdio, type HookEnd, type HookSpawner } from './hook-spawn.ts';

export const nodeHookSpawner: HookSpawner = (path, op, env) => {
  let child: ChildProcess;
  try {
    // detached: setsid(2) in the child, so it leads a new process group (and has no terminal).
    child = childProcess().spawn(path, [op], { cwd: '/', env, detached: true, stdio: hookStdio(op) });
  } catch (err) {
    // Some exec errors (ENOEXEC, EISDIR...) are thrown rather than emitted.
    return failedToStart(err instanceof Error ? err.message : String(err));
  }
  const streams = child.stdio as Array<Readable | Writable | null | undefined>;
  const ended = new Promise<HookEnd>((resolve) => {
    child.once('exit', (exitCode, signal) => resolve({ exitCode, signal }));
    // Node emits 'error' (no 'exit') when the spawn itself failed; the pipes it made for the child
    // are closed here so that nothing waits on them.
    child.on('error', (err) => {
      if (child.pid !== undefined) return;
      for (const s of streams) s?.destroy();
      resolve({ exitCode: null, signal: null, spawnError: err.message });
    });
  });
  return {
    pid: child.pid,
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    notify: op === 'freeze' ? ((streams[NOTIFY_FD] as Readable | null | undefined) ?? null) : null,
    ended,
  };
};
