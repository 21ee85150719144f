// One daemon at a time: a pidfile held with flock(2), like FreeBSD's pidfile(3). The lock lives
// as long as the open descriptor, so a crashed daemon never leaves a stale lock behind, and the
// descriptor is close-on-exec so hooks (even resident ones) never inherit it.
import { closeSync, ftruncateSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { tryLock } from '../native/libc.ts';
import { openPrivateFile, prepareStateDir } from '../state/index.ts';

export class PidfileBusyError extends Error {
  readonly holder: number | undefined;

  constructor(path: string, holder: number | undefined) {
    super(
      holder
        ? `another hvvss daemon (pid ${holder}) is running: it holds ${path}. Stop it first ("service hvvss stop" or "kill ${holder}").`
        : `another hvvss daemon holds ${path}. Stop it first ("service hvvss stop").`,
    );
    this.name = 'PidfileBusyError';
    this.holder = holder;
  }
}

export class Pidfile {
  readonly path: string;
  readonly #fd: number;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /** Locks the pidfile and writes our pid into it; throws PidfileBusyError naming the holder. */
  static acquire(path: string): Pidfile {
    // Root truncates and unlinks this file: its directory must be root's alone (0755 like
    // /var/run, refused when others can write it) and a symlink planted here is never followed.
    prepareStateDir(dirname(path), undefined, { mode: 0o755, label: 'pidfile directory' });
    // World-readable as pidfiles are; libuv opens every file close-on-exec.
    const fd = openPrivateFile(path, { mode: 0o644 });
    try {
      if (!tryLock(fd, path)) {
        const text = Buffer.alloc(32);
        const holder = Number.parseInt(text.toString('utf8', 0, readSync(fd, text, 0, text.length, 0)).trim(), 10);
        throw new PidfileBusyError(path, Number.isFinite(holder) && holder > 0 ? holder : undefined);
      }
      ftruncateSync(fd, 0);
      writeSync(fd, `${process.pid}\n`, 0);
      return new Pidfile(path, fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  release(): void {
    try {
      unlinkSync(this.path);
    } finally {
      closeSync(this.#fd);
    }
  }
}
