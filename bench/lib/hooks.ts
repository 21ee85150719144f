// Hook directories for the benchmarks, made the way the daemon requires: root-owned, not
// group- or world-writable (explicit modes, whatever the umask).
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function hooksDir(path: string): string {
  mkdirSync(path, { recursive: true });
  chmodSync(path, 0o755);
  return path;
}

/** Writes an executable `#!/bin/sh` hook. */
export function shellHook(dir: string, name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

/** Installs a compiled program as a hook. */
export function binaryHook(dir: string, name: string, program: string): string {
  const path = join(dir, name);
  copyFileSync(program, path);
  chmodSync(path, 0o755);
  return path;
}

/** Names that sort like the hooks of a real installation: 10-hook, 11-hook, ... */
export function hookName(i: number): string {
  return `${String(10 + i).padStart(2, '0')}-hook`;
}
