// Replacing a file root keeps (the freeze journal) atomically and durably, without ever writing
// through something planted: the data goes to a new temporary file in the same directory,
// created with O_EXCL|O_NOFOLLOW (so an existing file or symlink at that name is an error, never
// opened) under an unpredictable name, fsync'ed, renamed over the target (rename(2) replaces a
// symlink at the target, it does not follow it), then the directory is fsync'ed so the rename
// survives a crash. On failure the temporary file is removed.
import { closeSync, constants, fsyncSync, openSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { closeAsync, fsyncAsync, openAsync, renameAsync, unlinkAsync, writeAllAsync } from '../util/fs-async.ts';
import path from 'node:path';

const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const DIRECTORY = constants.O_RDONLY | constants.O_DIRECTORY;
/** EEXIST on a fresh random name means something is planting files: give up after a few. */
const ATTEMPTS = 4;

/**
 * Random bytes from the kernel's generator. Read from /dev/urandom (which never blocks) rather
 * than through Node's crypto: the daemon writes its journal at every FREEZE, and Web Crypto's
 * getRandomValues loads Node's whole crypto layer (webcrypto, keys, hashes, OpenSSL's set-up) into
 * the resident daemon on the first backup, about 0.9 MiB it keeps (docs/benchmarks.md, Footprint).
 * Where /dev/urandom cannot be read (a jail without it), Web Crypto does the same.
 */
function randomBytes(count: number): Uint8Array {
  const bytes = new Uint8Array(count);
  let fd: number | undefined;
  try {
    fd = openSync('/dev/urandom', constants.O_RDONLY);
    let got = 0;
    while (got < count) {
      const n = readSync(fd, bytes, got, count - got, null);
      if (n === 0) throw new Error('/dev/urandom: end of file');
      got += n;
    }
    return bytes;
  } catch {
    return globalThis.crypto.getRandomValues(bytes);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** `.frozen.json.<16 hex digits>`: hidden, next to the target, not guessable in advance. */
function tempNameFor(target: string): string {
  const random = Buffer.from(randomBytes(8)).toString('hex');
  return path.join(path.dirname(target), `.${path.basename(target)}.${random}`);
}

/**
 * Creates `tmp` as a new file, mode 0600, failing with EEXIST on anything already there (a file,
 * a symlink, even a dangling one: it is not followed, so its target is not created either).
 */
function createNewPrivateFileSync(tmp: string): number {
  return openSync(tmp, CREATE_NEW, 0o600);
}

function isExists(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && (err as { code: unknown }).code === 'EEXIST';
}

/** Writes `data` to `target` (mode 0600) atomically and durably; see the file's comment. */
export async function writePrivateFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  let tmp = '';
  let fd: number | undefined;
  for (let attempt = 1; fd === undefined; attempt++) {
    tmp = tempNameFor(target);
    try {
      fd = await openAsync(tmp, CREATE_NEW, 0o600);
    } catch (err) {
      if (!isExists(err) || attempt >= ATTEMPTS) throw err;
    }
  }
  try {
    try {
      await writeAllAsync(fd, data);
      await fsyncAsync(fd);
    } finally {
      await closeAsync(fd);
    }
    await renameAsync(tmp, target);
  } catch (err) {
    await unlinkAsync(tmp).catch(() => undefined);
    throw err;
  }
  const dir = await openAsync(path.dirname(target), DIRECTORY);
  try {
    await fsyncAsync(dir);
  } finally {
    await closeAsync(dir);
  }
}

/** The same, synchronously (for start-up code and tests; the journal uses the async one). */
export function writePrivateFileAtomicSync(target: string, data: string | Uint8Array): void {
  let tmp = '';
  let fd: number | undefined;
  for (let attempt = 1; fd === undefined; attempt++) {
    tmp = tempNameFor(target);
    try {
      fd = createNewPrivateFileSync(tmp);
    } catch (err) {
      if (!isExists(err) || attempt >= ATTEMPTS) throw err;
    }
  }
  try {
    try {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset, bytes.length - offset);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, target);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone, or the directory went away
    }
    throw err;
  }
  const dir = openSync(path.dirname(target), DIRECTORY);
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
