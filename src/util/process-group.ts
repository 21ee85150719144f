// Stopping a whole process group: SIGTERM, then SIGKILL to whatever of it is left after a grace.
// A command's children (a snapshot tool's helpers, a shell's background jobs) must not outlive
// the thaw: they would keep writing to file systems the snapshot was meant to capture at rest.
import { readdirSync } from 'node:fs';
import { procStatFields, STAT } from './proc-stat.ts';
import { systemClock, type Clock, type Timer } from './clock.ts';

/**
 * True while any process of the group still runs. kill(-pgid, 0) alone also counts zombies: an
 * orphan whose parent is an init that never reaps (PID 1 of many containers) would look alive
 * for ever, and every stop would wait out its whole grace and end in a needless SIGKILL. On
 * Linux /proc tells zombies apart; FreeBSD's init reaps orphans, so kill() is enough there.
 */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return process.platform !== 'linux' || linuxGroupHasLiveMember(pgid);
}

/** Scans /proc/PID/stat for a member of the group that is not a zombie. */
function linuxGroupHasLiveMember(pgid: number): boolean {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return true; // No /proc to look at: trust kill().
  }
  for (const pid of pids) {
    const fields = procStatFields(pid);
    if (fields === undefined) continue; // Gone meanwhile.
    const state = fields[STAT.state];
    if (Number(fields[STAT.pgrp]) === pgid && state !== 'Z' && state !== 'X') return true;
  }
  return false;
}

/**
 * Sends `signal` to the process group led by `pgid`; a group that is gone already is fine. Right
 * after spawn the child may not have made its group yet (setsid runs in the child): then the
 * leader itself gets the signal.
 */
export function signalGroup(pgid: number | undefined, signal: NodeJS.Signals): void {
  if (pgid === undefined) return;
  try {
    process.kill(-pgid, signal);
  } catch {
    try {
      process.kill(pgid, signal);
    } catch {
      // ESRCH: gone already.
    }
  }
}

/**
 * The one TERM-then-KILL of the project: `signal` (SIGTERM, or the one an operator sent) to the
 * group now, SIGKILL to it after `graceMs` unless `exited()` by then (`onKill` is told first).
 * Returns the pending kill, to cancel once the process is known to be gone.
 */
export function signalThenKill(
  pgid: number | undefined,
  graceMs: number,
  options: { readonly signal?: NodeJS.Signals; readonly exited: () => boolean; readonly onKill?: () => void; readonly clock?: Pick<Clock, 'setTimer'> },
): Timer {
  signalGroup(pgid, options.signal ?? 'SIGTERM');
  return (options.clock ?? systemClock).setTimer(graceMs, () => {
    if (options.exited()) return;
    options.onKill?.();
    signalGroup(pgid, 'SIGKILL');
  });
}

/** How often the group is looked at during the grace: a short poll, bounded by the grace itself. */
const CHECK_EVERY_MS = 20;

/**
 * SIGTERM to the group, then SIGKILL once `graceMs` has passed with members left. Resolves
 * with what it took; never waits longer than the grace.
 */
export async function stopProcessGroup(pgid: number, graceMs: number): Promise<'none' | 'terminated' | 'killed'> {
  if (!(pgid > 0) || !groupAlive(pgid)) return 'none';
  signalGroup(pgid, 'SIGTERM');
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    if (!groupAlive(pgid)) return 'terminated';
    await new Promise((resolve) => setTimeout(resolve, Math.min(CHECK_EVERY_MS, Math.max(0, until - Date.now()))));
  }
  if (!groupAlive(pgid)) return 'terminated';
  signalGroup(pgid, 'SIGKILL');
  return 'killed';
}
