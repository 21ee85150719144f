// A directory root keeps its state in (the freeze journal, the hooks lock, the pidfile and
// status socket): root acts on what it finds there (recovery thaws the hooks a journal names),
// so nobody else may be able to put anything in it. It must be a directory owned by a trusted
// uid, not writable by group or others, reached only through trusted directories (the rule of
// trusted-path.ts); otherwise it is refused, never silently used or "fixed".
import { accessSync, chmodSync, constants, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fixCommand, processTrustedUids, resolveTrusted, securityProblems, shellWord, type Resolution } from '../hooks/trusted-path.ts';
import { StatePathError } from './state-path-error.ts';

export interface StateDirOptions {
  /** Mode of the directory when it is created (missing parents get 0755). Default 0700. */
  readonly mode?: number;
  /** What it is, for messages. Default `state directory`. */
  readonly label?: string;
}

function errorCode(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : String(err);
}

/**
 * Creates `dir` if missing (mode 0700 unless told; missing parents 0755), then checks it as
 * above. Returns its real path. Throws StatePathError, whose message ends with the fix. An
 * existing 0755 directory owned by root is fine (nobody else can write it).
 */
export function prepareStateDir(dir: string, trustedUids: readonly number[] = processTrustedUids(), options: StateDirOptions = {}): string {
  const label = options.label ?? 'state directory';
  const absDir = path.resolve(dir);
  let resolved: Resolution = resolveTrusted(absDir, trustedUids);
  // Missing: every directory consulted up to the missing one was trusted, so creating it there is safe.
  if (resolved.kind === 'failed' && resolved.code === 'ENOENT') {
    try {
      // Exact modes whatever the umask: a restrictive one must not make /var/db unreadable.
      const parent = path.dirname(absDir);
      const first = mkdirSync(parent, { recursive: true, mode: 0o755 });
      if (first !== undefined) {
        for (let p = parent; p.length >= first.length; p = path.dirname(p)) chmodSync(p, 0o755);
      }
      mkdirSync(absDir, { mode: options.mode ?? 0o700 });
      chmodSync(absDir, options.mode ?? 0o700);
    } catch (err) {
      if (errorCode(err) !== 'EEXIST') {
        throw new StatePathError(absDir, 'unusable', `cannot create the ${label} ${absDir}: ${errorCode(err)}`, `create it by hand: install -d -o root -m 0700 ${shellWord(absDir)}`);
      }
    }
    resolved = resolveTrusted(absDir, trustedUids);
  }
  if (resolved.kind === 'failed') {
    throw new StatePathError(absDir, 'unusable', `cannot use the ${label} ${absDir}: ${resolved.code} at ${resolved.at}`, `make ${shellWord(resolved.at)} a directory, or choose another path`);
  }
  if (resolved.kind === 'insecure') {
    const p = resolved.problem;
    throw new StatePathError(
      absDir,
      'insecure',
      `the ${label} ${absDir} is reached through ${p.path}, which is ${p.why}: whoever can change it could plant files root acts on`,
      p.fix,
    );
  }
  const { realPath, stat } = resolved;
  const shown = realPath === absDir ? absDir : `${absDir} (${realPath})`;
  if (!stat.isDirectory()) {
    throw new StatePathError(absDir, 'wrong-type', `the ${label} ${shown} is ${stat.isFile() ? 'a file' : 'not a directory'}`, `move it away (mv ${shellWord(realPath)} ${shellWord(realPath)}.old) or choose another path`);
  }
  const problems = securityProblems(stat, trustedUids);
  if (problems.length > 0) {
    throw new StatePathError(
      absDir,
      'insecure',
      `the ${label} ${shown} is ${problems.join(' and ')}: anyone who can write it could plant files root acts on`,
      fixCommand(realPath, stat, trustedUids) ?? '',
    );
  }
  try {
    accessSync(realPath, constants.W_OK);
  } catch (err) {
    throw new StatePathError(absDir, 'unusable', `the ${label} ${shown} is not writable (${errorCode(err)})`, 'make it writable (a read-only file system?) or choose another path');
  }
  return realPath;
}
