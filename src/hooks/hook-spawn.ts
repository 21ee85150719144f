// Starting one hook process: `HOOK check|freeze|thaw`, cwd `/`, exactly the environment given, a
// session and process group of its own (so the whole group can be signalled), stdout and stderr
// piped; for freeze, stdin a pipe held open and fd 3 the notify pipe; for check and thaw, stdin
// /dev/null. Everything after the start (lines, READY, timeouts, group kill, drain) is
// hook-process.ts's, the same whichever spawner started the process.
//
// Two spawners with those same semantics: node:child_process directly (the default, and the
// daemon's), and execa (hook-spawn-execa.ts, the operator commands' library). The daemon does
// not load execa: a resident process pays for every module it loads, and execa's per-run objects
// (its result promise, stream wrappers, merged streams) were about a fifth of the daemon's time per
// hook (docs/benchmarks.md, Hook dispatch).
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { NOTIFY_FD } from './hook-env.ts';
import type { HookOp } from './types.ts';

export interface SpawnedHook {
  /** undefined when the process could not be created at all. */
  readonly child: ChildProcess | undefined;
  readonly pid: number | undefined;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** fd 3, freeze only. */
  readonly notify: Readable | null;
  /**
   * Settles when the process has ended one way or another, with why it could not start if it
   * could not (ENOENT, EACCES, ENOEXEC...). The caller trusts it only when no 'exit' came first.
   */
  readonly settled: Promise<string | undefined>;
}

export type HookSpawner = (path: string, op: HookOp, env: Record<string, string>) => SpawnedHook;

/** The stdio of `HOOK op`, as described above. */
export function hookStdio(op: HookOp): StdioOptions {
  return op === 'freeze' ? ['pipe', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'];
}

const failedToStart = (message: string): SpawnedHook => ({
  child: undefined,
  pid: undefined,
  stdin: null,
  stdout: null,
  stderr: null,
  notify: null,
  settled: Promise.resolve(message),
});

/** node:child_process's spawn, with the semantics above. */
export const nodeHookSpawner: HookSpawner = (path, op, env) => {
  let child: ChildProcess;
  try {
    // detached: setsid(2) in the child, so it leads a new process group (and has no terminal).
    child = spawn(path, [op], { cwd: '/', env, detached: true, stdio: hookStdio(op) });
  } catch (err) {
    // Some exec errors (ENOEXEC, EISDIR...) are thrown rather than emitted.
    return failedToStart(err instanceof Error ? err.message : String(err));
  }
  const streams = child.stdio as Array<Readable | Writable | null | undefined>;
  const settled = new Promise<string | undefined>((resolve) => {
    child.once('exit', () => resolve(undefined));
    // Node emits 'error' (no 'exit') when the spawn itself failed; the pipes it made for the child
    // are closed here so that nothing waits on them.
    child.on('error', (err) => {
      if (child.pid !== undefined) return;
      for (const s of streams) s?.destroy();
      resolve(err.message);
    });
  });
  return {
    child,
    pid: child.pid,
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    notify: op === 'freeze' ? ((streams[NOTIFY_FD] as Readable | null | undefined) ?? null) : null,
    settled,
  };
};
