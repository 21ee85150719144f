// The sample hooks of hooks.d/ enabled as an admin would, for the tests that run them under the
// daemon with real database servers (test/admin/databases.ts), and a test's hold on a server
// that may not have started.
import { chmodSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Defer } from '../support/cleanups.ts';
import { hooksForTest, type HooksFixture } from '../support/hooks-dir.ts';
import { missing } from '../support/requirements.ts';
import type { WatchedProcess } from '../support/process.ts';
import { until, type MariaDb, type Started } from './databases.ts';

export const HOOKS_D = fileURLToPath(new URL('../../hooks.d/', import.meta.url));

/**
 * A hooks directory with the named samples enabled (copied without the suffix, mode 0755), and settings
 * files beside it; `@ROOT@` in a setting becomes the fixture's scratch directory.
 */
export function enabledSamples(defer: Defer, samples: readonly string[], settings: Record<string, Record<string, string>> = {}): HooksFixture {
  const fx = hooksForTest(defer);
  for (const sample of samples) {
    const hook = join(fx.dir, sample.replace(/\.sample$/, ''));
    copyFileSync(join(HOOKS_D, sample), hook);
    chmodSync(hook, 0o755);
  }
  // Settings files live beside the hooks directory (/usr/local/etc/hvvss/mysql.env).
  for (const [file, vars] of Object.entries(settings)) {
    const path = join(fx.root, file);
    writeFileSync(path, Object.entries(vars).map(([k, v]) => `${k}='${v.replaceAll('@ROOT@', fx.root)}'\n`).join(''));
    chmodSync(path, 0o644);
  }
  return fx;
}

/** The server; or, when it did not start, undefined once the test is skipped with the reason (failed in CI). */
export function needs<T>(t: TestContext, started: Started<T>): T | undefined {
  if (started.ok) return started.server;
  missing(t, started.reason);
  return undefined;
}

/**
 * An INSERT into hvvss_test.t from another session, returned once it waits for the global read lock
 * (MySQL says "Waiting for global read lock"; MariaDB, 10.4 on, FTWRL through backup locks, "Waiting
 * for backup lock"); killed after the test by `defer`.
 */
export async function insertWaitingForReadLock(defer: Defer, db: MariaDb, value: number): Promise<WatchedProcess> {
  const insert = db.client(`INSERT INTO hvvss_test.t VALUES (${value})`);
  defer(() => void insert.child.kill('SIGKILL'));
  await until(
    async () => (await db.query("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE IN ('Waiting for global read lock', 'Waiting for backup lock') AND INFO LIKE 'INSERT INTO hvvss_test.t%'")) === '1',
    10_000,
    'the INSERT to wait for the global read lock',
  );
  return insert;
}
