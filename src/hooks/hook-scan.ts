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
// Every directory consulted on the way to the hooks directory, and to each symlinked hook's target, must be
// trusted too (see trusted-path.ts): a user who owns /srv could otherwise swap /srv/hooks.d for their own.
// Every insecure verdict ends with the command that fixes it.
import { lstatSync as lstat, readdirSync as readdir, realpathSync as realpath, type Stats } from 'node:fs';
import path from 'node:path';
import { fixCommand, formatMode, resolveTrusted, securityProblems, shellWord, type TrustProblem } from './trusted-path.ts';
import type { HookEntry, ScanDirProblem, ScanOptions, ScanResult } from './types.ts';

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

/** `what` and the command that fixes `target`: "group-writable (mode 0775); fix: chmod go-w /x/10-db" */
function withFix(what: string, target: string, st: Stats, trustedUids: number[]): string {
  return `${what}; fix: ${fixCommand(target, st, trustedUids) ?? ''}`;
}

/** A symlinked hook reached through a directory others can change. */
function throughWhy(entryPath: string, problem: TrustProblem): string {
  let target: string | undefined;
  try {
    target = realpath(entryPath);
  } catch {
    // only for the message
  }
  return `symlink${target === undefined ? '' : ` to ${target}`} reached through ${problem.path}, which is ${problem.why}; fix: ${problem.fix}`;
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
    const code = errorCode(err);
    return refused(code === 'ENOENT' ? 'does not exist' : `cannot stat: ${code ?? String(err)}`);
  }

  if (lst.isSymbolicLink()) {
    // Every directory on the way to the target is judged, not just the target.
    const resolved = resolveTrusted(entryPath, trustedUids);
    if (resolved.kind === 'failed') {
      return refused(resolved.code === 'ENOENT' ? 'dangling symlink (target does not exist)' : `symlink cannot be resolved: ${resolved.code} at ${resolved.at}`);
    }
    if (resolved.kind === 'insecure') return refused(throughWhy(entryPath, resolved.problem));
    const target = resolved.realPath;
    const st = resolved.stat;
    if (!st.isFile()) return skipped(`symlink to ${target}, which is a ${typeName(st)}`, target);
    const problems = securityProblems(st, trustedUids);
    if (problems.length > 0) return refused(withFix(`symlink to ${target} which is ${problems.join(' and ')}`, target, st, trustedUids), target);
    if ((st.mode & 0o111) === 0) return skipped(`symlink to ${target}, which is not executable (mode ${formatMode(st.mode)})`, target);
    return { name, path: entryPath, verdict: 'runnable', target };
  }

  if (lst.isDirectory()) return skipped('directory');
  if (!lst.isFile()) return skipped(typeName(lst));
  const problems = securityProblems(lst, trustedUids);
  if (problems.length > 0) return refused(withFix(problems.join(', '), entryPath, lst, trustedUids));
  if ((lst.mode & 0o111) === 0) return skipped(`not executable (mode ${formatMode(lst.mode)})`);
  return { name, path: entryPath, verdict: 'runnable' };
}

/**
 * The hooks directory itself: reached only through trusted directories, a directory, owned by
 * a trusted uid, not writable by group or others. Undefined when all is well.
 */
function judgeHooksDir(absDir: string, trustedUids: number[]): ScanDirProblem | undefined {
  const resolved = resolveTrusted(absDir, trustedUids);
  if (resolved.kind === 'failed') {
    return resolved.code === 'ENOENT'
      ? {
          kind: 'missing',
          message: `hooks directory ${absDir} does not exist${resolved.at === absDir ? '' : ` (${resolved.at} is missing)`}; fix: mkdir -p -m 0755 ${shellWord(absDir)}`,
        }
      : { kind: 'unusable', message: `hooks directory ${absDir} cannot be examined: ${resolved.code} at ${resolved.at}` };
  }
  if (resolved.kind === 'insecure') {
    const p = resolved.problem;
    return {
      kind: 'insecure',
      message: `hooks directory ${absDir} is reached through ${p.path}, which is ${p.why}: whoever can change it can replace the hooks; fix: ${p.fix}`,
    };
  }
  const { realPath, stat } = resolved;
  const shown = realPath === absDir ? absDir : `${absDir} (${realPath})`;
  if (!stat.isDirectory()) return { kind: 'unusable', message: `hooks directory ${shown} is not a directory` };
  const problems = securityProblems(stat, trustedUids);
  if (problems.length > 0) {
    return { kind: 'insecure', message: `hooks directory ${shown} is ${problems.join(' and ')}; fix: ${fixCommand(realPath, stat, trustedUids) ?? ''}` };
  }
  return undefined;
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

  const problem = judgeHooksDir(absDir, options.trustedUids);
  if (problem && problem.kind !== 'insecure') {
    result.problem = problem;
    return result;
  }

  let names: string[];
  try {
    names = readdir(absDir);
  } catch (err) {
    result.problem = problem ?? { kind: 'unusable', message: `hooks directory ${absDir} cannot be read: ${errorCode(err) ?? String(err)}` };
    return result;
  }
  names.sort(compareNames);
  result.entries = names.map((name) => judgeEntry(absDir, name, options.trustedUids));
  if (problem) result.problem = problem;
  result.runnable = result.entries.filter((e) => e.verdict === 'runnable');
  result.refused = result.entries.filter((e) => e.verdict === 'refused');
  return result;
}

/**
 * Judges one hook, named relative to the configured hooks directory, by exactly the scan's rules
 * (a hook name, a regular executable file, secure, its directory and every directory on the way
 * secure). For recovery: a freeze journal records names, and only a hook that passes now may run,
 * from the configured directory, never from a path read back from a file.
 * An invalid name or an insecure directory is `refused`; run the hook only when `runnable`.
 */
export function judgeHook(dir: string, name: string, options: ScanOptions): HookEntry {
  const absDir = path.resolve(dir);
  const byName = nameRule(name);
  if (byName !== undefined) return { name, path: absDir, verdict: 'refused', why: `not a hook name (${byName})` };
  const problem = judgeHooksDir(absDir, options.trustedUids);
  if (problem) return { name, path: path.join(absDir, name), verdict: 'refused', why: problem.message };
  return judgeEntry(absDir, name, options.trustedUids);
}
