// Mutual exclusion between everything that runs the hooks: the daemon (a host request, its own
// freeze window, recovery) and the operator commands (hvvss check/freeze/thaw, and the keeper
// of a manual freeze). One flock(2) on a file in the state directory, next to the journal.
//
// Why flock and not "is the holder's pid alive": the kernel drops the lock when the holder
// dies, however it dies, so a lock that is busy always means a live holder, and a free lock
// means nobody is using the hooks, with no pid-reuse guesswork. The holder writes who it is
// into the file (no fsync: it is only there to name the holder in messages and in status).
//
// Who holds it when:
//  - daemon: for each CHECK, and from the start of a FREEZE until its thaw (rollback, THAW,
//    watchdog, shutdown); for recovery at start-up;
//  - hvvss check / thaw: for the run;
//  - hvvss freeze: the keeper, from its freeze until its thaw; hvvss freeze -- CMD: the
//    command-line process itself until it has thawed.
// Nobody takes it while someone else is frozen, so nothing ever writes it while a host backup
// holds the file systems suspended.
import { closeSync, constants, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { tryLock } from '../native/libc.ts';

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

export type Claim = { readonly ok: true } | { readonly ok: false; readonly holder: LockHolder | undefined };

export class HooksLock {
  readonly path: string;
  readonly #kind: HolderKind;
  #fd: number | undefined;
  #holder: LockHolder | undefined;

  constructor(path: string, kind: HolderKind) {
    this.path = path;
    this.#kind = kind;
  }

  get held(): boolean {
    return this.#fd !== undefined;
  }

  /**
   * Takes the lock without waiting, and writes who we are. Already held by us: only updates
   * what we are doing. Busy: returns the holder as it described itself (if readable).
   */
  tryAcquire(what: Omit<LockHolder, 'pid' | 'kind' | 'since'> & { since?: string }): Claim {
    if (this.#fd === undefined) {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      // libuv opens files close-on-exec: hooks never inherit the lock.
      const fd = openSync(this.path, constants.O_RDWR | constants.O_CREAT, 0o600);
      let locked = false;
      try {
        locked = tryLock(fd, this.path);
      } finally {
        if (!locked) closeSync(fd);
      }
      if (!locked) return { ok: false, holder: HooksLock.readHolder(this.path) };
      this.#fd = fd;
    }
    this.describe(what);
    return { ok: true };
  }

  /** Rewrites what we are doing (e.g. "frozen", with the time we thaw by). Lock must be held. */
  describe(what: Omit<LockHolder, 'pid' | 'kind' | 'since'> & { since?: string }): void {
    if (this.#fd === undefined) return;
    const { since, ...rest } = what;
    this.#holder = { pid: process.pid, kind: this.#kind, since: since ?? new Date().toISOString(), ...rest };
    try {
      ftruncateSync(this.#fd);
      writeSync(this.#fd, JSON.stringify(this.#holder) + '\n', 0);
    } catch {
      // Only informational: a full disk must not stop a thaw.
    }
  }

  /** Frees the lock (closing the descriptor is enough; the file stays, its text goes stale). */
  release(): void {
    if (this.#fd === undefined) return;
    const fd = this.#fd;
    this.#fd = undefined;
    this.#holder = undefined;
    closeSync(fd);
  }

  /** Who wrote the lock file last (a live holder only if the lock is busy). Never writes. */
  static readHolder(path: string): LockHolder | undefined {
    try {
      const data = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>;
      if (typeof data.pid !== 'number' || (data.kind !== 'daemon' && data.kind !== 'manual') || typeof data.op !== 'string') return undefined;
      return data as LockHolder;
    } catch {
      return undefined;
    }
  }
}

/** "pid 123 is alive" by kill(pid, 0): only for display, see the top of this file. */
export function pidAlive(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
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
