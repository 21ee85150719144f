// Linux's /proc/PID/stat, read the one safe way: the command name (field 2) may hold spaces and
// parentheses, so the fields are counted from its closing ")". Used to tell zombies apart and to
// name a process for good (its start time); FreeBSD has no /proc, and these callers know it.
import { readFileSync } from 'node:fs';

/** The fields after the command name (index 0 = state, field 3), or undefined when the process is gone. */
export function procStatFields(pid: number | string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Field indexes into procStatFields()'s result (proc(5) numbers minus 3). */
export const STAT = { state: 0, pgrp: 2, startTime: 19 } as const;
