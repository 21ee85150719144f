// Who holds the hooks lock (see hooks-lock.ts), as the holder wrote it, and how to say so.
// Free of native code so that "hvvss status" can read it without loading the libc bindings.
import { readFileSync } from 'node:fs';
import { readPrivateFile } from '../state/index.ts';

export type HolderKind = 'daemon' | 'manual';

export interface LockHolder {
  readonly pid: number;
  readonly kind: HolderKind;
  /** What it is doing: check, freeze, frozen, thaw, recovery. */
  readonly op: string;
  /** ISO time it took the lock (or entered `op`). */
  readonly since: string;
  /** A manual freeze's keeper: the socket "hvvss thaw" asks to thaw. */
  readonly keeper?: string;
  /** hvvss freeze -- CMD: the command it runs while frozen. */
  readonly command?: string;
  /** When the holder thaws by itself (daemon watchdog, keeper auto-thaw), ISO. */
  readonly thawsBy?: string;
}

/** The holder the lock file names (a live holder only if the lock is busy). Never writes. */
export function readHolder(path: string): LockHolder | undefined {
  try {
    // Never through a symlink, nor a FIFO someone planted (which would hang hvvss status).
    const data = JSON.parse(readPrivateFile(path, { maxBytes: 4096 }) ?? '') as Partial<LockHolder>;
    if (typeof data.pid !== 'number' || (data.kind !== 'daemon' && data.kind !== 'manual') || typeof data.op !== 'string') return undefined;
    return data as LockHolder;
  } catch {
    return undefined;
  }
}

/**
 * "pid 123 is alive" by kill(pid, 0). Only for display (status, dry runs) and never to decide
 * whether to thaw: a pid can be reused; the lock itself says whether its holder lives.
 */
export function pidAlive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !zombie(pid);
}

/**
 * A dead process nobody has reaped yet still answers kill(pid, 0): a keeper outlives the
 * command line that started it, so its parent is whatever reaps orphans (in a container,
 * maybe nothing). Linux shows the state in /proc; elsewhere init reaps promptly.
 */
function zombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

/** Who holds the hooks, in one phrase: "the hvvss daemon (pid 12) holds a host freeze since ...". */
export function describeHolder(holder: LockHolder | undefined, lockPath: string): string {
  if (!holder) return `another hvvss process holds ${lockPath}`;
  const since = holder.since ? ` since ${holder.since}` : '';
  if (holder.kind === 'daemon') {
    switch (holder.op) {
      case 'frozen':
      case 'freeze':
        return `the hvvss daemon (pid ${holder.pid}) holds a host freeze${since}${holder.thawsBy ? `, thawing by ${holder.thawsBy} at the latest` : ''}`;
      case 'check':
        return `the hvvss daemon (pid ${holder.pid}) is running the hooks for a host CHECK`;
      case 'host request':
        return `the hvvss daemon (pid ${holder.pid}) is running the hooks for a host CHECK or FREEZE`;
      default:
        return `the hvvss daemon (pid ${holder.pid}) is running the hooks (${holder.op})`;
    }
  }
  if (holder.command !== undefined) return `a manual freeze (hvvss freeze -- ${holder.command}, pid ${holder.pid}) holds the hooks${since}`;
  if (holder.op === 'frozen' || holder.keeper !== undefined) {
    return `a manual freeze (hvvss freeze, kept by pid ${holder.pid}) holds the hooks${since}${holder.thawsBy ? `, thawing by itself at ${holder.thawsBy}` : ''}`;
  }
  return `hvvss ${holder.op} (pid ${holder.pid}) is running the hooks`;
}

/** What to do about that holder, for someone who wants the hooks. */
export function adviceFor(holder: LockHolder | undefined): string {
  if (!holder) return 'try again in a moment';
  if (holder.kind === 'daemon') {
    return holder.op === 'frozen' || holder.op === 'freeze'
      ? "wait for the host's THAW (the daemon also thaws by itself after its --max-frozen), then try again"
      : 'try again in a moment';
  }
  if (holder.command !== undefined) return `wait for the command to finish, or interrupt it (kill -INT ${holder.pid}), which thaws`;
  if (holder.op === 'frozen' || holder.keeper !== undefined) return 'run "hvvss thaw" to end it';
  return 'try again in a moment';
}
