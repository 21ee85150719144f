// A scratch directory per test under the system temp dir (root-owned, 0755, below the sticky
// /tmp: trusted by the state rules), and the unprivileged uid the security cases use.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** `nobody` on Debian and FreeBSD: files are given to it with chown, no user is created. */
export const NOBODY = 65534;

export function scratch(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'hvvss-state-'));
  chmodSync(dir, 0o755);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs a shell command as nobody (as an attacker would, with only that user's rights). */
export function asNobody(script: string): { ok: boolean; stderr: string } {
  const run = spawnSync('sh', ['-c', script], { uid: NOBODY, gid: NOBODY, encoding: 'utf8', cwd: '/' });
  return { ok: run.status === 0, stderr: run.stderr };
}
