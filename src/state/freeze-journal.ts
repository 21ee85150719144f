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
import type { HookReason, HookRef } from '../hooks/index.ts';
import type { RecordedMount } from '../fs/fs-stage.ts';
import { readPrivateFile, StatePathError, writePrivateFileAtomic } from '../state/index.ts';

export interface FrozenRecord {
  /** 3 when it names file systems (the fs role); 1 and 2 (hooks only) are still read. */
  readonly version: 1 | 2 | 3;
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
  /**
   * The file systems the fs stage may hold frozen (FIFREEZE), in freeze order, recorded before
   * the first one is frozen. Recovery thaws them before the hooks, and only those still mounted
   * as recorded (see recoverMounts).
   */
  readonly mounts?: readonly RecordedMount[];
}

export type FreezeIntent = Omit<FrozenRecord, 'version' | 'frozen'>;

/** The journal exists but cannot be trusted or understood: kept as it is for the admin. */
export class JournalCorruptError extends Error {}

/** A journal is a few hundred bytes; anything bigger is not ours. */
export const JOURNAL_MAX_BYTES = 64 * 1024;
const HOOK_NAME = /^[0-9A-Za-z_-]+$/;

function validMount(m: unknown): boolean {
  const mount = m as Partial<RecordedMount> | null;
  return (
    typeof mount?.mountpoint === 'string' && mount.mountpoint.startsWith('/') && !mount.mountpoint.includes('\0') &&
    typeof mount.fstype === 'string' && typeof mount.action === 'string'
  );
}

export class FreezeJournal {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
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
    let text: string | undefined;
    try {
      text = readPrivateFile(this.path, { maxBytes: JOURNAL_MAX_BYTES });
    } catch (err) {
      // Planted, linked, too big or not ours: keep it for the admin, trust nothing in it.
      if (err instanceof StatePathError) throw this.#corrupt(`cannot be trusted: ${err.message}`);
      throw err;
    }
    if (text === undefined) return undefined;
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
    if (record.mounts !== undefined && !(Array.isArray(record.mounts) && record.mounts.every(validMount))) {
      throw this.#corrupt('does not list the frozen file systems by absolute mount point, type and action');
    }
    return record as FrozenRecord;
  }

  /** Writes the intent, durably, before anything is frozen. */
  async recordIntent(intent: FreezeIntent): Promise<void> {
    // Version 2 when no file system is named, so an older hvvss still reads a hooks-only record.
    const version = intent.mounts && intent.mounts.length > 0 ? 3 : 2;
    const { mounts, ...rest } = intent;
    await this.#write({ version, frozen: true, ...rest, ...(version === 3 ? { mounts } : {}) });
  }

  /** Nothing is frozen any more; `lastThaw` is absent when nothing had been frozen (a freeze that started no hook). */
  async clear(lastThaw: { readonly at: string; readonly reason: HookReason; readonly ok: boolean } | undefined): Promise<void> {
    await this.#write(lastThaw ? { version: 2, frozen: false, lastThaw } : { version: 2, frozen: false });
  }

  /** Through a private temporary file, fsync'ed and renamed over the record (see src/state). */
  async #write(data: object): Promise<void> {
    await writePrivateFileAtomic(this.path, JSON.stringify(data, null, 2) + '\n');
  }
}
