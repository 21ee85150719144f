// Starting one hook process: `HOOK check|freeze|thaw`, cwd `/`, exactly the environment given, a
// process group of its own (so the whole group can be signalled), stdout and stderr piped; for
// freeze, stdin a pipe held open and fd 3 the notify pipe; for check and thaw, stdin /dev/null.
// Everything after the start (lines, READY, timeouts, group kill, drain) is hook-process.ts's,
// the same whichever spawner started the process.
//
// Three spawners with those same semantics:
// - posix_spawn(3) (hook-spawn-posix.ts), the default: the daemon's, whose hooks the host waits
//   for. Node's own spawn forks the whole Node process for each hook (docs/benchmarks.md, Hook
//   dispatch);
// - node:child_process (hook-spawn-node.ts), where posix_spawn cannot set the working directory
//   (a C library older than glibc 2.29 or FreeBSD 13.1);
// - execa (hook-spawn-execa.ts), the operator commands' library.
import type { Readable, Writable } from 'node:stream';
import type { StdioOptions } from 'node:child_process';
import type { HookOp } from './types.ts';

/** How the process ended, or why it could not start (ENOENT, EACCES, ENOEXEC...). */
export type HookEnd =
  | { readonly exitCode: number | null; readonly signal: NodeJS.Signals | null; readonly spawnError?: undefined }
  | { readonly exitCode: null; readonly signal: null; readonly spawnError: string };

export interface SpawnedHook {
  /** undefined when the process could not be created at all. */
  readonly pid: number | undefined;
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** fd 3, freeze only. */
  readonly notify: Readable | null;
  /** Settles once, when the process has exited (its output may still be arriving) or failed to start. */
  readonly ended: Promise<HookEnd>;
}

export type HookSpawner = (path: string, op: HookOp, env: Record<string, string>) => SpawnedHook;

/** The stdio of `HOOK op`, as described above, in child_process's terms. */
export function hookStdio(op: HookOp): StdioOptions {
  return op === 'freeze' ? ['pipe', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'];
}

export const failedToStart = (message: string): SpawnedHook => ({
  pid: undefined,
  stdin: null,
  stdout: null,
  stderr: null,
  notify: null,
  ended: Promise.resolve({ exitCode: null, signal: null, spawnError: message }),
});
