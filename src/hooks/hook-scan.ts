// Scan of the hooks directory: every entry gets a verdict (runnable, skipped or refused), nothing is dropped silently.
//
// Rules, in the order they are applied to an entry:
//  1. names: hidden files, editor and package-manager leftovers (*.sample, *~, *.bak, *.dpkg-*, *.rpmnew,
//     *.rpmsave) and names with characters outside [0-9A-Za-z_-] are skipped (a run-parts-like rule);
//  2. type: directories and anything that is not a regular file (after following a symlink) are skipped;
//     a dangling symlink is refused (the admin meant a hook to run, and it cannot);
//  3. security: the file (for a symlink, its target) must be owned by a trusted uid and not be writable by
//     group or others, otherwise it is refused;
//  4. a regular file without any execute bit is skipped.
// The directory itself must exist, be a directory, be owned by a trusted uid and not be group/world-writable;
// otherwise the scan reports a directory problem (the caller answers CHECK with a failure).
import { lstatSync as lstat, readdirSync as readdir, realpathSync as realpath, statSync as stat, type Stats } from 'node:fs';
import path from 'node:path';
import type { HookEntry, ScanOptions, ScanResult } from './types.ts';

const VALID_NAME = /^[0-9A-Za-z_-]+$/;

const LEFTOVER_RULES: ReadonlyArray<{ test: (name: string) => boolean; why: string }> = [
  { test: (n) => n.endsWith('.sample'), why: 'sample file (*.sample)' },
  { test: (n) => n.endsWith('~'), why: 'editor backup file (*~)' },
  { test: (n) => n.endsWith('.bak'), why: 'backup file (*.bak)' },
  { test: (n) => /\.dpkg-[^/]*$/.test(n), why: 'package manager leftover (*.dpkg-*)' },
  { test: (n) => n.endsWith('.rpmnew'), why: 'package manager leftover (*.rpmnew)' },
  { test: (n) => n.endsWith('.rpmsave'), why: 'package manager leftover (*.rpmsave)' },
];

/** Byte-order comparison of names (not locale order), as run-parts does with LC_ALL=C. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Octal mode as shown to admins: 4 digits, e.g. `0775`. */
export function formatMode(mode: number): string {
  return '0' + (mode & 0o7777).toString(8).padStart(3, '0');
}

function describeTrusted(trustedUids: number[]): string {
  const names = [...new Set(trustedUids)].map((uid) => (uid === 0 ? 'root' : `uid ${uid}`));
  if (names.length === 0) return 'any trusted uid';
  if (names.length === 1) return names[0] as string;
  return names.slice(0, -1).join(', ') + ' or ' + names[names.length - 1];
}

/**
 * Ownership and mode problems of a file or directory, in words, e.g.
 * `group-writable (mode 0775)` or `owned by uid 65534, not root`. Empty when secure.
 */
export function securityProblems(st: Stats, trustedUids: number[]): string[] {
  const problems: string[] = [];
  if (!trustedUids.includes(st.uid)) {
    problems.push(`owned by uid ${st.uid}, not ${describeTrusted(trustedUids)}`);
  }
  if (st.mode & 0o002) problems.push(`world-writable (mode ${formatMode(st.mode)})`);
  else if (st.mode & 0o020) problems.push(`group-writable (mode ${formatMode(st.mode)})`);
  return problems;
}

function nameRule(name: string): string | undefined {
  if (name.startsWith('.')) return 'hidden file';
  for (const rule of LEFTOVER_RULES) if (rule.test(name)) return rule.why;
  if (!VALID_NAME.test(name)) return 'name has characters outside [0-9A-Za-z_-]';
  return undefined;
}

function typeName(st: Stats): string {
  if (st.isDirectory()) return 'directory';
  if (st.isFIFO()) return 'FIFO';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'device';
  return 'not a regular file';
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

function judgeEntry(dir: string, name: string, trustedUids: number[]): HookEntry {
  const entryPath = path.join(dir, name);
  const skipped = (why: string, target?: string): HookEntry =>
    target === undefined ? { name, path: entryPath, verdict: 'skipped', why } : { name, path: entryPath, verdict: 'skipped', why, target };
  const refused = (why: string, target?: string): HookEntry =>
    target === undefined ? { name, path: entryPath, verdict: 'refused', why } : { name, path: entryPath, verdict: 'refused', why, target };

  const byName = nameRule(name);
  if (byName !== undefined) return skipped(byName);

  let lst: Stats;
  try {
    lst = lstat(entryPath);
  } catch (err) {
    return refused(`cannot stat: ${errorCode(err) ?? String(err)}`);
  }

  if (lst.isSymbolicLink()) {
    let target: string;
    let st: Stats;
    try {
      target = realpath(entryPath);
      st = stat(entryPath);
    } catch (err) {
      const code = errorCode(err);
      return refused(code === 'ENOENT' ? 'dangling symlink (target does not exist)' : `symlink cannot be resolved: ${code ?? String(err)}`);
    }
    if (!st.isFile()) return skipped(`symlink to ${target}, which is a ${typeName(st)}`, target);
    const problems = securityProblems(st, trustedUids);
    if (problems.length > 0) return refused(`symlink to ${target} which is ${problems.join(' and ')}`, target);
    if ((st.mode & 0o111) === 0) return skipped(`symlink to ${target}, which is not executable (mode ${formatMode(st.mode)})`, target);
    return { name, path: entryPath, verdict: 'runnable', target };
  }

  if (lst.isDirectory()) return skipped('directory');
  if (!lst.isFile()) return skipped(typeName(lst));
  const problems = securityProblems(lst, trustedUids);
  if (problems.length > 0) return refused(problems.join(', '));
  if ((lst.mode & 0o111) === 0) return skipped(`not executable (mode ${formatMode(lst.mode)})`);
  return { name, path: entryPath, verdict: 'runnable' };
}

/**
 * Synchronous on purpose: a handful of metadata reads on a local directory cost less than the
 * thread-pool round trips of async fs, and they sit on the path of every host CHECK and FREEZE
 * (see docs/benchmarks.md, response floor).
 *
 * Scans `dir` and judges every entry. Never throws for a missing or insecure directory: that is reported in
 * `problem`. Entries of an insecure directory are still judged (so the admin sees them all), but checkAll and
 * freezeAll run nothing while `problem` is set.
 */
export async function scanHooks(dir: string, options: ScanOptions): Promise<ScanResult> {
  const absDir = path.resolve(dir);
  const result: ScanResult = { dir: absDir, entries: [], runnable: [], refused: [] };

  let dirStat: Stats;
  try {
    dirStat = stat(absDir);
  } catch (err) {
    const code = errorCode(err);
    result.problem =
      code === 'ENOENT'
        ? { kind: 'missing', message: `hooks directory ${absDir} does not exist` }
        : { kind: 'unusable', message: `hooks directory ${absDir} cannot be examined: ${code ?? String(err)}` };
    return result;
  }
  if (!dirStat.isDirectory()) {
    result.problem = { kind: 'unusable', message: `hooks directory ${absDir} is not a directory` };
    return result;
  }

  let names: string[];
  try {
    names = readdir(absDir);
  } catch (err) {
    result.problem = { kind: 'unusable', message: `hooks directory ${absDir} cannot be read: ${errorCode(err) ?? String(err)}` };
    return result;
  }
  names.sort(compareNames);
  result.entries = names.map((name) => judgeEntry(absDir, name, options.trustedUids));

  const dirProblems = securityProblems(dirStat, options.trustedUids);
  if (dirProblems.length > 0) {
    result.problem = { kind: 'insecure', message: `hooks directory ${absDir} is ${dirProblems.join(' and ')}` };
  }
  result.runnable = result.entries.filter((e) => e.verdict === 'runnable');
  result.refused = result.entries.filter((e) => e.verdict === 'refused');
  return result;
}
