// Who is calling, from /proc: FUSE gives the emulator the caller's thread id, fsuid and fsgid
// only. A device driver sees more: its process (what hv_vss keeps as proc_task and signals on
// detach) and all its groups (what devfs checks against the node's group).
import { readFileSync } from 'node:fs';
import { procStatFields, STAT } from '../util/proc-stat.ts';

export interface CallerProcess {
  /** The process (thread group) id, whichever thread made the call. */
  readonly pid: number;
  /** Supplementary groups. */
  readonly groups: readonly number[];
  /** Start time in clock ticks since boot: with the pid, it names one process for good. */
  readonly startTicks: string;
}

/** The process a thread belongs to, or undefined if it is gone already. */
export function callerProcess(tid: number): CallerProcess | undefined {
  try {
    const status = readFileSync(`/proc/${tid}/status`, 'utf8');
    const field = (name: string) => status.match(new RegExp(`^${name}:\\s*(.*)$`, 'm'))?.[1]?.trim() ?? '';
    const pid = Number(field('Tgid')) || tid;
    const groups = field('Groups').split(/\s+/).filter(Boolean).map(Number);
    return { pid, groups, startTicks: startTicksOf(pid) ?? '' };
  } catch {
    return undefined;
  }
}

/** True while `process` still runs (the same process, not a later one given the same pid). */
export function stillRunning(process: CallerProcess): boolean {
  const ticks = startTicksOf(process.pid);
  return ticks !== undefined && ticks === process.startTicks && !isZombie(process.pid);
}

function startTicksOf(pid: number): string | undefined {
  return procStatFields(pid)?.[STAT.startTime];
}

function isZombie(pid: number): boolean {
  const state = procStatFields(pid)?.[STAT.state];
  return state === undefined || state === 'Z';
}
