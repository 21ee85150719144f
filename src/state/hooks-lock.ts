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
import { closeSync, ftruncateSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { tryLock, unlock } from '../native/libc.ts';
import { openPrivateFile, prepareStateDir } from '../state/index.ts';
import { readHolder, type HolderKind, type LockHolder } from './lock-holder.ts';

export { adviceFor, describeHolder, pidAlive, readHolder, type HolderKind, type LockHolder } from './lock-holder.ts';

export type Claim = { readonly ok: true } | { readonly ok: false; readonly holder: LockHolder | undefined };

export class HooksLock {
  readonly path: string;
  readonly #kind: HolderKind;
  /** Kept open between acquisitions: the daemon takes the lock for every host request. */
  #fd: number | undefined;
  #locked = false;

  constructor(path: string, kind: HolderKind) {
    this.path = path;
    this.#kind = kind;
  }

  get held(): boolean {
    return this.#locked;
  }

  /**
   * Takes the lock without waiting, and writes who we are. Already held by us: only updates
   * what we are doing. Busy: returns the holder as it described itself (if readable).
   */
  tryAcquire(what: Omit<LockHolder, 'pid' | 'kind' | 'since'> & { since?: string }, options: { readonly describe?: boolean } = {}): Claim {
    if (!this.#locked) {
      const fd = this.open();
      if (!tryLock(fd, this.path)) return { ok: false, holder: HooksLock.readHolder(this.path) };
      this.#locked = true;
    }
    // describe: false while something may still be frozen (a recovery not yet done): flock(2)
    // writes nothing, rewriting the holder's text would block on a frozen state directory.
    if (options.describe !== false) this.describe(what);
    return { ok: true };
  }

  /**
   * Opens the lock file (without locking it). The daemon does this at start-up, so a bad state
   * directory shows at once and its set of open descriptors stays the same from then on.
   */
  open(): number {
    if (this.#fd === undefined) {
      // Root writes this file and trusts the directory it sits in: both must be root's alone
      // (an insecure state directory or a planted symlink here is refused, with the fix).
      prepareStateDir(dirname(this.path));
      // libuv opens files close-on-exec: hooks never inherit the lock.
      this.#fd = openPrivateFile(this.path);
    }
    return this.#fd;
  }

  /** Rewrites what we are doing (e.g. "frozen", with the time we thaw by). Lock must be held. */
  describe(what: Omit<LockHolder, 'pid' | 'kind' | 'since'> & { since?: string }): void {
    if (this.#fd === undefined || !this.#locked) return;
    const { since, ...rest } = what;
    const holder: LockHolder = { pid: process.pid, kind: this.#kind, since: since ?? new Date().toISOString(), ...rest };
    const text = JSON.stringify(holder) + '\n';
    try {
      // Reading is cheaper than writing (and writes nothing): the daemon describes itself the
      // same way for every host request, so most acquisitions find their text already there.
      if (this.#currentText(text.length + 1) === text) return;
      ftruncateSync(this.#fd);
      writeSync(this.#fd, text, 0);
    } catch {
      // Only informational: a full disk must not stop a thaw.
    }
  }

  /** Up to `max` bytes of the lock file, read through our descriptor (never by path again). */
  #currentText(max: number): string {
    if (this.#fd === undefined) return '';
    const buffer = Buffer.alloc(max);
    const n = readSync(this.#fd, buffer, 0, max, 0);
    return buffer.toString('utf8', 0, n);
  }

  /** Frees the lock (the descriptor stays open for the next time; the file's text goes stale). */
  release(): void {
    if (!this.#locked || this.#fd === undefined) return;
    this.#locked = false;
    try {
      unlock(this.#fd, this.path);
    } catch {
      // Closing frees the lock whatever flock said.
      closeSync(this.#fd);
      this.#fd = undefined;
    }
  }

  /** Who wrote the lock file last (a live holder only if the lock is busy). Never writes. */
  static readHolder(path: string): LockHolder | undefined {
    return readHolder(path);
  }
}
