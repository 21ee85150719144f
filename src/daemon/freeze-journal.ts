// FreezeJournal: the durable, write-ahead record of what may be frozen. The intent ("these hooks
// are about to be frozen, by whom, for which request") is written and fsync'ed BEFORE the first
// freeze hook starts, and cleared only after the last thaw. In between nothing is written, so a
// freeze hook that suspends the file system holding the journal cannot block the daemon. A
// daemon killed at any instant in between finds the intent at its next start and thaws every
// hook it names (thaw hooks are idempotent by contract).
//
// What is read back is not trusted blindly: the file must be small, regular and not a symlink,
// and it only names hooks; recovery resolves those names in the configured hooks directory and
// runs them only if they pass the hooks' security checks.
import { constants as fsConstants, fstatSync, openSync, readSync, closeSync } from 'node:fs';
import { access, mkdir, open, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import type { HookReason, HookRef } from '../hooks/index.ts';

export interface FrozenRecord {
  readonly version: 1 | 2;
  readonly frozen: true;
  /** ISO time the intent was recorded (just before the first freeze hook started). */
  readonly since: string;
  readonly reason: HookReason;
  readonly msgid: string;
  /** Who holds the freeze: the daemon or a manual `hvvss freeze`. */
  readonly holder: { readonly pid: number; readonly kind: 'daemon' | 'manual' };
  readonly hooksDir: string;
  /** Every hook whose freeze may have started, in freeze order; thaw goes in reverse. Only the names count. */
  readonly hooks: readonly HookRef[];
  /** When the holder's watchdog thaws by itself, ISO. */
  readonly watchdogAt?: string;
}

export type FreezeIntent = Omit<FrozenRecord, 'version' | 'frozen'>;

/** The journal exists but cannot be trusted or understood: kept as it is for the admin. */
export class JournalCorruptError extends Error {}

/** A journal is a few hundred bytes; anything bigger is not ours. */
export const JOURNAL_MAX_BYTES = 64 * 1024;
const HOOK_NAME = /^[0-9A-Za-z_-]+$/;

export class FreezeJournal {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  /**
   * Creates the state directory and checks it is writable, so a bad --state-dir stops the
   * daemon at start instead of failing the first freeze.
   */
  async prepare(): Promise<void> {
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await access(dir, fsConstants.W_OK);
  }

  #corrupt(what: string): JournalCorruptError {
    return new JournalCorruptError(
      `the freeze journal ${this.path} ${what}. It is kept as it is: thaw by hand whatever it names (each hook's "thaw" is safe to run), then remove it`,
    );
  }

  /**
   * The recorded freeze, or undefined when nothing is frozen. Synchronous: it is read on every
   * host CHECK/FREEZE, and a thread-pool round trip costs more than these few syscalls.
   */
  read(): FrozenRecord | undefined {
    let fd: number;
    try {
      fd = openSync(this.path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      if (code === 'ELOOP') throw this.#corrupt('is a symbolic link');
      throw err;
    }
    let text: string;
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw this.#corrupt('is not a regular file');
      if (st.size > JOURNAL_MAX_BYTES) throw this.#corrupt(`is ${st.size} bytes, more than a journal can be (${JOURNAL_MAX_BYTES})`);
      const buffer = Buffer.alloc(JOURNAL_MAX_BYTES + 1);
      const length = readSync(fd, buffer, 0, buffer.length, 0);
      if (length > JOURNAL_MAX_BYTES) throw this.#corrupt(`is more than ${JOURNAL_MAX_BYTES} bytes`);
      text = buffer.toString('utf8', 0, length);
    } finally {
      closeSync(fd);
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw this.#corrupt('is not valid JSON');
    }
    if (typeof data !== 'object' || data === null) throw this.#corrupt('is not a journal record');
    const record = data as Partial<FrozenRecord> & { frozen?: unknown };
    if (record.frozen !== true) return undefined;
    if (!Array.isArray(record.hooks) || !record.hooks.every((h) => typeof h?.name === 'string' && HOOK_NAME.test(h.name))) {
      throw this.#corrupt('does not list the frozen hooks by name');
    }
    if (typeof record.since !== 'string' || typeof record.holder?.pid !== 'number' || typeof record.hooksDir !== 'string') {
      throw this.#corrupt('lacks the time, holder or hooks directory of the freeze');
    }
    return record as FrozenRecord;
  }

  /** Writes the intent, durably, before anything is frozen. */
  async recordIntent(intent: FreezeIntent): Promise<void> {
    await this.#write({ version: 2, frozen: true, ...intent });
  }

  /** Nothing is frozen any more; `lastThaw` is absent when nothing had been frozen (a freeze that started no hook). */
  async clear(lastThaw: { readonly at: string; readonly reason: HookReason; readonly ok: boolean } | undefined): Promise<void> {
    await this.#write(lastThaw ? { version: 2, frozen: false, lastThaw } : { version: 2, frozen: false });
  }

  /**
   * Writes a private temporary file (created exclusively, never through a symlink someone
   * planted), fsyncs it, renames it over the record and fsyncs the directory.
   */
  async #write(data: object): Promise<void> {
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, `.${basename(this.path)}.${randomBytes(6).toString('hex')}`);
    const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW;
    const file = await open(tmp, flags, 0o600);
    try {
      try {
        await file.writeFile(JSON.stringify(data, null, 2) + '\n');
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(tmp, this.path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    const dirHandle = await open(dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  }
}
