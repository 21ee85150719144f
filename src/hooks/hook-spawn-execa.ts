// The hook spawner of the operator commands (hvvss check/freeze/thaw without a daemon): execa, the
// CLI's process library, with the semantics of hook-spawn.ts.
import { execa } from 'execa';
import type { Readable, Writable } from 'node:stream';
import { NOTIFY_FD } from './hook-env.ts';
import { hookStdio, type HookEnd, type HookSpawner } from './hook-spawn.ts';

export const execaHookSpawner: HookSpawner = (path, op, env) => {
  const sub = execa(path, [op], {
    cwd: '/',
    env,
    extendEnv: false,
    detached: true,
    reject: false,
    buffer: false,
    stripFinalNewline: false,
    stdio: hookStdio(op) as ['pipe', 'pipe', 'pipe'],
  });
  const ended = new Promise<HookEnd>((resolve) => {
    sub.nodeChildProcess.once('exit', (exitCode, signal) => resolve({ exitCode, signal }));
    // execa settles once the process exited and its streams ended, or when it could not start:
    // only the latter has no pid.
    Promise.resolve(sub).then(
      (r) => {
        if (sub.pid === undefined) resolve({ exitCode: null, signal: null, spawnError: r.originalMessage || r.message || 'cannot start' });
      },
      (e: unknown) => resolve({ exitCode: null, signal: null, spawnError: String(e) }),
    );
  });
  return {
    pid: sub.pid,
    stdin: sub.stdin as Writable | null,
    stdout: sub.stdout as Readable | null,
    stderr: sub.stderr as Readable | null,
    notify: op === 'freeze' ? ((sub.stdio[NOTIFY_FD] as Readable | null | undefined) ?? null) : null,
    ended,
  };
};
