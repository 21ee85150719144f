// Real hook scripts in a fresh root-owned directory, each appending what it was asked to a
// shared log file, so tests can check order, arguments and environment after the fact.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Defer } from './cleanups.ts';

export interface HooksFixture {
  /** A scratch directory for the test (state, pidfile, socket...). */
  readonly root: string;
  readonly dir: string;
  readonly logFile: string;
  /** Lines the hooks appended, e.g. "10-db freeze host". */
  log(): string[];
  /** Writes an executable `#!/bin/sh` hook; `@LOG@` in the body becomes the log file's path. */
  add(name: string, body: string, mode?: number): string;
  cleanup(): void;
}

/** The line every recording hook appends: name, op, reason. */
export const RECORD = 'echo "$HVVSS_HOOK $1 $HVVSS_REASON" >> "@LOG@"';

/** A recording hook that also writes to MOUNTPOINT at freeze and at thaw: it would block if that mount were frozen then. */
export const writesTo = (mountpoint: string): string => `${RECORD}\ncase "$1" in freeze|thaw) echo "$1" > ${join(mountpoint, 'hook-$1')} ;; esac`;

export function hooksFixture(hooks: Record<string, string> = {}): HooksFixture {
  const root = mkdtempSync(join(tmpdir(), 'hvvss-hooks-'));
  const dir = join(root, 'hooks.d');
  const logFile = join(root, 'hooks.log');
  // Explicit modes: the test runner's umask must not make anything group-writable.
  chmodSync(root, 0o755);
  mkdirSync(dir);
  chmodSync(dir, 0o755);
  writeFileSync(logFile, '');
  const fixture: HooksFixture = {
    root,
    dir,
    logFile,
    log: () => readFileSync(logFile, 'utf8').split('\n').filter(Boolean),
    add(name, body, mode = 0o755) {
      const path = join(dir, name);
      writeFileSync(path, `#!/bin/sh\n${body.replaceAll('@LOG@', logFile)}\n`);
      chmodSync(path, mode);
      return path;
    },
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
  for (const [name, body] of Object.entries(hooks)) fixture.add(name, body);
  return fixture;
}

/** A hooks fixture removed after the test by `defer`. */
export function hooksForTest(defer: Defer, hooks: Record<string, string> = {}): HooksFixture {
  const fx = hooksFixture(hooks);
  defer(() => fx.cleanup());
  return fx;
}
