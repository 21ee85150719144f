// Builds the suspension helper from src/fs/helper/hvvss-fsfreeze.c with the system's cc, once
// per test process, into a temporary directory.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { missing } from '../support/requirements.ts';

export const HELPER_SOURCE = fileURLToPath(new URL('../../src/fs/helper/hvvss-fsfreeze.c', import.meta.url));
let built: string | undefined;

export function buildHelper(t: TestContext): string | undefined {
  if (built) return built;
  if (spawnSync('cc', ['--version'], { stdio: 'ignore' }).error) {
    missing(t, 'cc is missing: apt-get install gcc');
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'hvvss-helper-'));
  chmodSync(dir, 0o755);
  const out = join(dir, 'hvvss-fsfreeze');
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', out, HELPER_SOURCE]);
  built = out;
  return out;
}
