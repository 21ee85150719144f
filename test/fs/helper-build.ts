// Builds the suspension helper from src/fs/helper/hvvss-fsfreeze.c with the system's cc, once
// per test process and variant, into a temporary directory: 'linux' is the Linux build
// (FIFREEZE), 'emulated-ufs' the FreeBSD code path against the emulator's ufssuspend
// (-DHVVSS_EMULATED_UFSSUSPEND; the device path comes from HVVSS_UFSSUSPEND).
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { missing } from '../support/requirements.ts';

export const HELPER_SOURCE = fileURLToPath(new URL('../../src/fs/helper/hvvss-fsfreeze.c', import.meta.url));

export type HelperVariant = 'linux' | 'emulated-ufs';

const DEFINES: Record<HelperVariant, readonly string[]> = { linux: [], 'emulated-ufs': ['-DHVVSS_EMULATED_UFSSUSPEND'] };
const built = new Map<string, string>();

/** Compiles a C file (warnings are errors) once per test process; undefined (skipped) without cc. */
export function buildC(t: TestContext, source: string, name: string, flags: readonly string[] = []): string | undefined {
  const key = `${source}\0${flags.join(' ')}`;
  const done = built.get(key);
  if (done) return done;
  if (spawnSync('cc', ['--version'], { stdio: 'ignore' }).error) {
    missing(t, 'cc is missing: apt-get install gcc');
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'hvvss-helper-'));
  chmodSync(dir, 0o755);
  const out = join(dir, name);
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', ...flags, '-o', out, source]);
  built.set(key, out);
  return out;
}

export function buildHelper(t: TestContext, variant: HelperVariant = 'linux'): string | undefined {
  return buildC(t, HELPER_SOURCE, 'hvvss-fsfreeze', DEFINES[variant]);
}
