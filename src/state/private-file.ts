// Files root keeps in its state directory (the freeze journal, the hooks lock, the pidfile),
// opened so that nothing planted at their path is followed or believed: never through a
// symlink (O_NOFOLLOW), and only when the opened file itself (fstat, so the check and the use
// are the same file) is a regular file with one name, owned by a trusted uid and not writable
// by group or others. prepareStateDir() makes the directory itself safe; this is the second
// line, for a directory that was unsafe before, or a file left by an older version.
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { fixCommand, processTrustedUids, securityProblems, shellWord } from '../hooks/trusted-path.ts';
import { StatePathError } from './state-path-error.ts';

/** Never set on Windows; Linux and FreeBSD have both. */
const { O_NOFOLLOW, O_NONBLOCK } = constants;

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

function typeName(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** open(2) with O_NOFOLLOW met a symlink: ELOOP on Linux, EMLINK on FreeBSD. */
function symlinkRefused(path: string, err: unknown): StatePathError | undefined {
  const code = errorCode(err);
  if (code !== 'ELOOP' && code !== 'EMLINK') return undefined;
  return new StatePathError(path, 'symlink', `${path} is a symbolic link, which root never follows in its state directory (someone may have planted it)`, `rm ${shellWord(path)}`);
}

/** Throws when the opened file is not one root may trust. */
function judgeOpened(path: string, st: Stats, trustedUids: readonly number[]): void {
  if (!st.isFile()) {
    throw new StatePathError(path, 'wrong-type', `${path} is ${typeName(st)}, not a regular file`, `move it away and find out who put it there: mv ${shellWord(path)} ${shellWord(path)}.suspect`);
  }
  if (st.nlink > 1) {
    // Removing this name leaves the other file alone; writing through it would not.
    throw new StatePathError(path, 'hard-linked', `${path} has ${st.nlink} hard links, so it is also another file`, `rm ${shellWord(path)}`);
  }
  const problems = securityProblems(st, trustedUids);
  if (problems.length > 0) {
    throw new StatePathError(path, 'insecure', `${path} is ${problems.join(' and ')} (someone else may have written it: check what it says)`, fixCommand(path, st, trustedUids) ?? '');
  }
}

export interface ReadPrivateOptions {
  /** Larger files are refused (nothing we write there is): bounds what a planted file costs. */
  readonly maxBytes: number;
  /** Default: root and the uid we run as. */
  readonly trustedUids?: readonly number[];
}

/**
 * The file's text, or undefined when it does not exist. Synchronous: the journal is read on every
 * host CHECK and FREEZE, where a thread-pool round trip costs more than the read. O_NONBLOCK so
 * that a FIFO planted at the path cannot hang the open; it is then refused as not regular.
 * Throws StatePathError (symlink, not regular, hard-linked, wrong owner or mode, too big).
 */
export function readPrivateFile(path: string, options: ReadPrivateOptions): string | undefined {
  const trustedUids = options.trustedUids ?? processTrustedUids();
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined;
    throw symlinkRefused(path, err) ?? err;
  }
  try {
    const st = fstatSync(fd);
    judgeOpened(path, st, trustedUids);
    const tooBig = (size: number) =>
      new StatePathError(path, 'too-big', `${path} is ${size} bytes, more than the ${options.maxBytes} it can hold`, `inspect it, then remove it: rm ${shellWord(path)}`);
    if (st.size > options.maxBytes) throw tooBig(st.size);
    // One byte more than allowed: a file that grew since the fstat is caught too.
    const buffer = Buffer.alloc(options.maxBytes + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > options.maxBytes) throw tooBig(length);
    }
    return buffer.toString('utf8', 0, length);
  } finally {
    closeSync(fd);
  }
}

export interface OpenPrivateOptions {
  /** Mode when created. Default 0600. */
  readonly mode?: number;
  /** Default: root and the uid we run as. */
  readonly trustedUids?: readonly number[];
}

/**
 * Opens (creating if missing) a file that is kept open, like a lock file or a pidfile:
 * O_RDWR|O_CREAT|O_NOFOLLOW, then the same checks as readPrivateFile on the opened file. Returns
 * the descriptor (close-on-exec: libuv opens everything so); closed again when refused.
 */
export function openPrivateFile(path: string, options: OpenPrivateOptions = {}): number {
  const trustedUids = options.trustedUids ?? processTrustedUids();
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDWR | constants.O_CREAT | O_NOFOLLOW, options.mode ?? 0o600);
  } catch (err) {
    throw symlinkRefused(path, err) ?? err;
  }
  try {
    judgeOpened(path, fstatSync(fd), trustedUids);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}
