// Freeze hooks a dead holder left running. Hooks run in process groups of their own, so a
// daemon killed (SIGKILL) while a freeze hook runs does not take the hook with it: that hook may
// complete its freeze after the next daemon's recovery thawed it, and stay frozen. Before
// recovery thaws, it stops them: found by their command line (`HOOK freeze`, as the runner
// starts them; an interpreter shows as `/bin/sh HOOK freeze`), with ps(1), the same on FreeBSD
// and Linux.
import { stopProcessGroup } from '../util/process-group.ts';
import { childProcess } from '../util/builtins.ts';

/** ps's output is read whole: room for a process table of tens of thousands of lines. */
const PS_MAX_BYTES = 64 * 1024 * 1024;

export interface LeftoverProcess {
  readonly pid: number;
  readonly pgid: number;
  readonly args: string;
}

/**
 * `HOOK freeze` as exec'ed, or as its #! interpreter shows it: the interpreter, at most one
 * option (`#!/bin/sh -e`), then the hook. A command line that merely ends with the same words
 * (`sh -c "...; : HOOK freeze"`) is not one.
 */
function isFreezeOf(args: string, path: string): boolean {
  const tail = ` ${path} freeze`;
  if (args === tail.slice(1)) return true;
  if (!args.endsWith(tail)) return false;
  return /^\S+( -\S+)?$/.test(args.slice(0, -tail.length));
}

/** Parses `ps -ax -o pid=,pgid=,args=` and keeps the `HOOK freeze` processes of `hookPaths`. */
function findLeftoverFreezes(psOutput: string, hookPaths: readonly string[], self = process.pid): LeftoverProcess[] {
  const found: LeftoverProcess[] = [];
  for (const line of psOutput.split('\n')) {
    const match = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const pid = Number(match[1]);
    const pgid = Number(match[2]);
    const args = match[3] ?? '';
    // The runner starts every hook as the leader of its own group: anything else is not ours.
    if (pid === self || pid !== pgid) continue;
    if (hookPaths.some((path) => isFreezeOf(args, path))) found.push({ pid, pgid, args });
  }
  return found;
}

/** Stops (TERM, then KILL after `graceMs`) the process group of every leftover freeze of `hookPaths`. */
export async function stopLeftoverFreezes(hookPaths: readonly string[], graceMs: number): Promise<LeftoverProcess[]> {
  if (hookPaths.length === 0) return [];
  // What ps printed, even if it then failed: whatever it listed is worth stopping.
  const stdout = await new Promise<string>((resolve) => {
    childProcess().execFile('ps', ['-ax', '-o', 'pid=,pgid=,args='], { env: { PATH: '/bin:/usr/bin' }, encoding: 'utf8', maxBuffer: PS_MAX_BYTES }, (_err, out) =>
      resolve(String(out ?? '')),
    );
  });
  const leftovers = findLeftoverFreezes(stdout, hookPaths);
  await Promise.all(leftovers.map((p) => stopProcessGroup(p.pgid, graceMs)));
  return leftovers;
}
