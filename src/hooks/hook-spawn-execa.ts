// The hook spawner of the operator commands (hvvss check/freeze/thaw without a daemon): execa, the
// CLI's process library, with the semantics of hook-spawn.ts. The daemon uses nodeHookSpawner.
import { execa } from 'execa';
import type { Readable, Writable } from 'node:stream';
import { NOTIFY_FD } from './hook-env.ts';
import { hookStdio, type HookSpawner } from './hook-spawn.ts';

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
  // execa settles once the process exited and its streams ended, or when it could not start.
  const settled = Promise.resolve(sub).then(
    (r) => (r.failed ? (r.originalMessage || r.message || 'cannot start') : undefined),
    (e: unknown) => String(e),
  );
  return {
    child: sub.nodeChildProcess,
    pid: sub.pid,
    stdin: sub.stdin as Writable | null,
    stdout: sub.stdout as Readable | null,
    stderr: sub.stderr as Readable | null,
    notify: op === 'freeze' ? ((sub.stdio[NOTIFY_FD] as Readable | null | undefined) ?? null) : null,
    settled,
  };
};
