// FreezeJournal: the durable record of which hooks are frozen. Written (atomically, fsync'ed)
// before a freeze is answered with success, cleared after the thaw; read at start-up so a
// daemon that crashed while frozen thaws those hooks before it registers again.
//
// Writes use async file I/O: a watchdog thaw may run while hv_vss_daemon(8) still holds the
// file systems suspended, and a blocked write must not stall the event loop.
import { constants as fsConstants, readFileSync } from 'node:fs';
import { access, mkdir, open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { HookReason, HookRef } from '../hooks/index.ts';

export interface FrozenRecord {
  readonly version: 1;
  readonly frozen: true;
  /** ISO time the freeze was answered. */
  readonly since: string;
  readonly reason: HookReason;
  readonly msgid: string;
  /** Who holds the freeze: the daemon or a manual `hvvss freeze`. */
  readonly holder: { readonly pid: number; readonly kind: 'daemon' | 'manual' };
  readonly hooksDir: string;
  /** In freeze order; thaw goes in reverse. */
  readonly hooks: readonly HookRef[];
}

export class JournalCorruptError extends Error {}

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

  /** The recorded freeze, or undefined when nothing is frozen. */
  async read(): Promise<FrozenRecord | undefined> {
    let text: string;
    try {
      // Read on every host CHECK/FREEZE: synchronously, as a thread-pool round trip costs more.
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new JournalCorruptError(`${this.path} is not valid JSON; inspect it, thaw by hand if needed, then remove it`);
    }
    const record = data as Partial<FrozenRecord> & { frozen?: boolean };
    if (record.frozen !== true) return undefined;
    if (!Array.isArray(record.hooks) || !record.hooks.every((h) => typeof h?.name === 'string' && typeof h?.path === 'string')) {
      throw new JournalCorruptError(`${this.path} does not list the frozen hooks; inspect it, thaw by hand if needed, then remove it`);
    }
    return record as FrozenRecord;
  }

  async recordFrozen(record: Omit<FrozenRecord, 'version' | 'frozen'>): Promise<void> {
    await this.#write({ version: 1, frozen: true, ...record });
  }

  async clear(lastThaw: { readonly at: string; readonly reason: HookReason; readonly ok: boolean }): Promise<void> {
    await this.#write({ version: 1, frozen: false, lastThaw });
  }

  /** write a temporary file, fsync it, rename it over the record, fsync the directory. */
  async #write(data: object): Promise<void> {
    const dir = dirname(this.path);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.tmp`;
    const file = await open(tmp, 'w', 0o600);
    try {
      await file.writeFile(JSON.stringify(data, null, 2) + '\n');
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, this.path);
    const dirHandle = await open(dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  }
}
