// The admin's fs policy file: one "MOUNTPOINT ACTION" per line, "#" starts a comment, a space
// in a mount point written \040 as in fstab(5). Root acts on it (it decides what a backup leaves
// out), so it is trusted by the rules of hooks: the file owned by root and writable by nobody
// else, every directory above it too (src/hooks/trusted-path.ts). A malformed line is an error
// naming the file and the line, never skipped: a rule lost silently would change a backup.
//
//   # /usr/local/etc/hvvss/fs-policy
//   /boot/efi   sync-if-busy   # remounted read-only; flushed only while a file is open for writing
//   /scratch    skip
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { posix } from 'node:path';
import { decodeOctalEscapes } from './mount-table.ts';
import { POLICY_ACTIONS, type PolicyAction, type PolicyRule } from './mount-plan.ts';
import { describeProblem, fixCommand, resolveTrusted, securityProblems } from '../hooks/trusted-path.ts';

/** Where the daemon, check and status look when --fs-policy is not given. */
export const DEFAULT_POLICY_FILE = process.platform === 'freebsd' ? '/usr/local/etc/hvvss/fs-policy' : '/etc/hvvss/fs-policy';

/** Far more than any real policy; a bigger file is a mistake, refused rather than read whole. */
const MAX_BYTES = 64 * 1024;

export class PolicyFileError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(`fs policy ${path}: ${message}`);
    this.name = 'PolicyFileError';
    this.path = path;
  }
}

const ACTION_HELP = `${POLICY_ACTIONS.slice(0, -1).join(', ')} or ${POLICY_ACTIONS.at(-1)}`;

/** The rules of a policy file's text; every malformed line is reported with its number. */
export function parsePolicyFile(text: string, path: string): PolicyRule[] {
  const rules: PolicyRule[] = [];
  const problems: string[] = [];
  const seen = new Map<string, number>();
  text.split('\n').forEach((raw, index) => {
    const n = index + 1;
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') return;
    const fields = line.split(/[ \t]+/);
    if (fields.length !== 2) {
      problems.push(`line ${n}: expected "MOUNTPOINT ACTION", got ${JSON.stringify(raw.trim())} (write a space in a mount point as \\040)`);
      return;
    }
    const mountpoint = decodeOctalEscapes(fields[0] as string);
    const action = fields[1] as string;
    if (!mountpoint.startsWith('/')) problems.push(`line ${n}: ${JSON.stringify(fields[0])} is not an absolute mount point`);
    else if (!(POLICY_ACTIONS as readonly string[]).includes(action)) problems.push(`line ${n}: unknown action ${JSON.stringify(action)}: use ${ACTION_HELP}`);
    else {
      // Compared as the flags compare them: "/boot/efi/" is "/boot/efi".
      const normal = posix.normalize(mountpoint).replace(/(.)\/$/, '$1');
      const first = seen.get(normal);
      if (first !== undefined) problems.push(`line ${n}: ${normal} already has a rule on line ${first}`);
      else {
        seen.set(normal, n);
        rules.push({ mountpoint: normal, action: action as PolicyAction, origin: `${path}:${n}` });
      }
    }
  });
  if (problems.length > 0) throw new PolicyFileError(path, `${problems.join('; ')}. Fix the file (format: "MOUNTPOINT ACTION" per line, ACTION one of ${ACTION_HELP}, # comments)`);
  return rules;
}

/**
 * Reads and checks a policy file. Undefined when it does not exist and is not `required` (the
 * default file is optional); throws a PolicyFileError for anything else that is wrong.
 */
export function readPolicyFile(path: string, options: { readonly required: boolean; readonly trustedUids: readonly number[] }): PolicyRule[] | undefined {
  const resolution = resolveTrusted(path, options.trustedUids);
  if (resolution.kind === 'failed') {
    if (resolution.code === 'ENOENT' && !options.required) return undefined;
    throw new PolicyFileError(path, `cannot be read (${resolution.code} at ${resolution.at})${resolution.code === 'ENOENT' ? ': create it, or leave --fs-policy out' : ''}`);
  }
  if (resolution.kind === 'insecure') throw new PolicyFileError(path, `not trusted: a user other than root could change it: ${describeProblem(resolution.problem)}`);
  const fd = openSync(resolution.realPath, 'r');
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new PolicyFileError(path, 'is not a regular file');
    const problems = securityProblems(st, options.trustedUids);
    if (problems.length > 0) throw new PolicyFileError(path, `not trusted: ${problems.join(', ')}; fix: ${fixCommand(path, st, options.trustedUids)}`);
    if (st.size > MAX_BYTES) throw new PolicyFileError(path, `is ${st.size} bytes, more than ${MAX_BYTES}: is it the right file?`);
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return parsePolicyFile(buf.subarray(0, got).toString('utf8'), path);
  } finally {
    closeSync(fd);
  }
}
