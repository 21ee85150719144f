// Can root trust what a path leads to? Only if nobody else could have changed where it leads:
// every directory consulted while resolving it (each ancestor, and the ancestors of every
// symlink followed on the way) must be owned by a trusted uid and writable by nobody else, the
// rule of sudo and of OpenSSH's StrictModes. A user who can write any of those directories can
// rename the rest of the path away and put their own in its place, so their script runs as root.
//
// One exception, for /tmp-like directories: a trusted-owned directory with the sticky bit (mode
// 1777) is acceptable when the entry below it is owned by a trusted uid, because the sticky bit
// lets only that entry's owner (or the directory's) rename or remove it.
//
// The object the path names (the hooks directory, a hook, the state directory) is not judged
// here beyond being reached safely: its own owner and mode are the caller's rule.
//
// Synchronous on purpose: a few lstat(2) calls, on the path of every host CHECK.
import { lstatSync, readlinkSync, type Stats } from 'node:fs';
import path from 'node:path';

/** Owners root accepts for what it runs or reads: root itself and the uid we run as. */
export function processTrustedUids(): number[] {
  return [...new Set([0, process.getuid?.() ?? 0])];
}

/** Octal mode as shown to admins: 4 digits, e.g. `0775`, `1777`. */
export function formatMode(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

function ownerName(uid: number): string {
  return uid === 0 ? 'root' : `uid ${uid}`;
}

export function describeTrusted(trustedUids: readonly number[]): string {
  const names = [...new Set(trustedUids)].map(ownerName);
  if (names.length === 0) return 'any trusted uid';
  if (names.length === 1) return names[0] as string;
  return names.slice(0, -1).join(', ') + ' or ' + names[names.length - 1];
}

/**
 * Ownership and mode problems of a file or directory, in words, e.g.
 * `group-writable (mode 0775)` or `owned by uid 65534, not root`. Empty when secure.
 */
export function securityProblems(st: Stats, trustedUids: readonly number[]): string[] {
  const problems: string[] = [];
  if (!trustedUids.includes(st.uid)) {
    problems.push(`owned by uid ${st.uid}, not ${describeTrusted(trustedUids)}`);
  }
  if (st.mode & 0o002) problems.push(`world-writable (mode ${formatMode(st.mode)})`);
  else if (st.mode & 0o020) problems.push(`group-writable (mode ${formatMode(st.mode)})`);
  return problems;
}

/** A path as a shell word, quoted only when it needs to be. */
export function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * The command that makes `target` secure (`chown root X`, `chmod go-w X`, or both), or
 * undefined when it already is. `-h` changes a symlink itself rather than what it points to.
 */
export function fixCommand(target: string, st: Stats, trustedUids: readonly number[]): string | undefined {
  const word = shellWord(target);
  const commands: string[] = [];
  if (!trustedUids.includes(st.uid)) {
    const owner = trustedUids.includes(0) || trustedUids.length === 0 ? 'root' : String(trustedUids[0]);
    commands.push(`chown ${st.isSymbolicLink() ? '-h ' : ''}${owner} ${word}`);
  }
  if (st.mode & 0o022 && !st.isSymbolicLink()) commands.push(`chmod go-w ${word}`);
  return commands.length > 0 ? commands.join(' && ') : undefined;
}

/** A directory (or, below a sticky directory, an entry) on the way that others could change. */
export interface TrustProblem {
  /** What is at fault. */
  readonly path: string;
  readonly uid: number;
  readonly mode: number;
  /** Owner and mode in words, e.g. `owned by uid 1000, not root, mode 0755`. */
  readonly why: string;
  /** The shell command that fixes it, e.g. `chown root /srv/x`. */
  readonly fix: string;
}

export type Resolution =
  /** Reached safely. `stat` is the lstat of the real path (never a symlink). */
  | { readonly kind: 'trusted'; readonly realPath: string; readonly stat: Stats }
  | { readonly kind: 'insecure'; readonly problem: TrustProblem }
  /** Could not be resolved (ENOENT, ENOTDIR, ELOOP, EACCES...) at `at`; every directory consulted before was trusted. */
  | { readonly kind: 'failed'; readonly code: string; readonly at: string };

/** Linux's limit on symlinks followed in one lookup (FreeBSD's is 32): past it, ELOOP. */
const MAX_SYMLINKS = 40;

function components(p: string): string[] {
  return p.split('/').filter((c) => c !== '' && c !== '.');
}

function errorCode(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : String(err);
}

function directoryProblem(dir: string, st: Stats, trustedUids: readonly number[]): TrustProblem | undefined {
  const ownerBad = !trustedUids.includes(st.uid);
  const writable = (st.mode & 0o022) !== 0;
  const sticky = (st.mode & 0o1000) !== 0;
  if (!ownerBad && (!writable || sticky)) return undefined;
  const owner = `owned by ${ownerName(st.uid)}${ownerBad ? `, not ${describeTrusted(trustedUids)}` : ''}`;
  const mode = `mode ${formatMode(st.mode)}${writable ? (st.mode & 0o002 ? ' (world-writable)' : ' (group-writable)') : ''}`;
  return { path: dir, uid: st.uid, mode: st.mode, why: `${owner}, ${mode}`, fix: fixCommand(dir, st, trustedUids) ?? '' };
}

/**
 * Resolves `target` (made absolute against the cwd) one component at a time, as the kernel
 * would, judging every directory it consults. Returns the real path when all of them are
 * trusted, else the first one that is not (nothing past it can be trusted anyway).
 */
export function resolveTrusted(target: string, trustedUids: readonly number[]): Resolution {
  const pending = components(path.resolve(target));
  let current = '/';
  let currentStat: Stats;
  try {
    currentStat = lstatSync(current);
  } catch (err) {
    return { kind: 'failed', code: errorCode(err), at: current };
  }
  let symlinks = 0;
  while (pending.length > 0) {
    const name = pending.shift() as string;
    if (name === '..') {
      // `current` is a real path (symlinks are expanded as met), so its parent is its dirname,
      // already judged on the way down.
      current = path.dirname(current);
      try {
        currentStat = lstatSync(current);
      } catch (err) {
        return { kind: 'failed', code: errorCode(err), at: current };
      }
      continue;
    }
    // `current` is consulted to look `name` up: it must be trusted before its answer is.
    const problem = directoryProblem(current, currentStat, trustedUids);
    if (problem) return { kind: 'insecure', problem };
    const next = current === '/' ? `/${name}` : `${current}/${name}`;
    let st: Stats;
    try {
      st = lstatSync(next);
    } catch (err) {
      return { kind: 'failed', code: errorCode(err), at: next };
    }
    const last = pending.length === 0;
    if (currentStat.mode & 0o022 && !trustedUids.includes(st.uid) && (st.isSymbolicLink() || !last)) {
      // Writable by others but sticky (checked above): safe only for entries others cannot
      // rename. The last component's own owner is the caller's rule, with its own message.
      return {
        kind: 'insecure',
        problem: {
          path: next,
          uid: st.uid,
          mode: st.mode,
          why: `owned by ${ownerName(st.uid)}, not ${describeTrusted(trustedUids)}, in ${current} (mode ${formatMode(currentStat.mode)}), whose sticky bit protects only entries owned by ${describeTrusted(trustedUids)}`,
          fix: fixCommand(next, st, trustedUids) ?? '',
        },
      };
    }
    if (st.isSymbolicLink()) {
      if (++symlinks > MAX_SYMLINKS) return { kind: 'failed', code: 'ELOOP', at: next };
      let link: string;
      try {
        link = readlinkSync(next);
      } catch (err) {
        return { kind: 'failed', code: errorCode(err), at: next };
      }
      pending.unshift(...components(link));
      if (link.startsWith('/')) {
        current = '/';
        try {
          currentStat = lstatSync(current);
        } catch (err) {
          return { kind: 'failed', code: errorCode(err), at: current };
        }
      }
      continue;
    }
    if (!last && !st.isDirectory()) return { kind: 'failed', code: 'ENOTDIR', at: next };
    current = next;
    currentStat = st;
  }
  return { kind: 'trusted', realPath: current, stat: currentStat };
}

/** "…: /srv/x is owned by uid 1000, not root, mode 0755; fix: chown root /srv/x" */
export function describeProblem(problem: TrustProblem): string {
  return `${problem.path} is ${problem.why}; fix: ${problem.fix}`;
}
