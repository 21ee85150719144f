// Compiles the C helpers in bench/c/ with gcc at bench time, into a temporary directory: the
// binaries are never committed and always match this machine's headers and libc.
import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCES = fileURLToPath(new URL('../c/', import.meta.url));

/** Builds bench/c/NAME.c to DIR/OUT (root-owned 0755, as hooks must be); returns the path. */
export function compileC(name: string, dir: string, options: { out?: string; defines?: Record<string, string> } = {}): string {
  const out = join(dir, options.out ?? name);
  const defines = Object.entries(options.defines ?? {}).map(([k, v]) => `-D${k}=${v}`);
  try {
    execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', ...defines, '-o', out, join(SOURCES, `${name}.c`)], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('gcc is needed to build bench/c/*.c (apt-get install gcc)');
    throw new Error(`gcc failed on bench/c/${name}.c:\n${stderr}`);
  }
  chmodSync(out, 0o755);
  return out;
}

/** A C string literal for -D: the compiler sees "path". */
export function cString(value: string): string {
  return JSON.stringify(value);
}
