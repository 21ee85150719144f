// The sample database hooks, enabled as an admin would, run unchanged by the hvvss daemon on the
// Linux protocol (the emulated /dev/vmbus/hv_vss), with real MariaDB and PostgreSQL servers
// (test/admin/databases.ts). On Linux the fs stage is always on: --fs-include names a loop mount
// this test made, so nothing else is ever frozen; it freezes after the database hooks.
import { missing } from '../support/requirements.ts';
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startLinuxEmulator, type RunningLinuxEmulator } from '../../src/emulator/host-client.ts';
import { hvvss, within, type WatchedProcess } from '../support/process.ts';
import { hooksFixture, type HooksFixture } from '../support/hooks-dir.ts';
import { startMariaDb, startPostgreSql, until, type MariaDb, type PostgreSql, type Started } from '../admin/databases.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { assertFreezable, loopMount, thawLoop, type LoopMount } from '../support/loop-fs.ts';
import { blocked, loopTools, writer } from '../fs/writer.ts';

const HOOKS_D = fileURLToPath(new URL('../../hooks.d/', import.meta.url));

let emu: RunningLinuxEmulator;
let mariadb: Started<MariaDb>;
let postgres: Started<PostgreSql>;
const defer = cleanupsPerTest();

before(async () => {
  const unavailable = (what: string) => (err: unknown) => ({ ok: false as const, reason: `${what} could not be set up: ${String(err)}` });
  [emu, mariadb, postgres] = await Promise.all([
    startLinuxEmulator(),
    startMariaDb().catch(unavailable('MariaDB')),
    startPostgreSql().catch(unavailable('PostgreSQL')),
  ]);
});
after(async () => {
  await Promise.all([emu?.stop(), mariadb?.ok && mariadb.server.stop(), postgres?.ok && postgres.server.stop()]);
});

function needs<T>(t: TestContext, started: Started<T>): T | undefined {
  if (started.ok) return started.server;
  missing(t, started.reason);
  return undefined;
}

/** The sample enabled (copied without .sample, 0755) with its settings file beside the hooks directory. */
function enabled(sample: string, settings: Record<string, Record<string, string>>): HooksFixture {
  const fx = hooksFixture();
  defer(() => fx.cleanup());
  const hook = join(fx.dir, sample.replace(/\.sample$/, ''));
  copyFileSync(join(HOOKS_D, sample), hook);
  chmodSync(hook, 0o755);
  for (const [file, vars] of Object.entries(settings)) {
    const path = join(fx.root, file);
    writeFileSync(path, Object.entries(vars).map(([k, v]) => `${k}='${v.replaceAll('@ROOT@', fx.root)}'\n`).join(''));
    chmodSync(path, 0o644);
  }
  return fx;
}

async function startDaemon(t: TestContext, fx: HooksFixture): Promise<{ daemon: WatchedProcess; mount: LoopMount } | undefined> {
  if (!loopTools(t)) return undefined;
  const mount = loopMount('ext4');
  defer(() => mount.cleanup());
  assertFreezable(mount.mountpoint);
  const daemon = hvvss([
    'daemon', '-n', '--device', emu.device, '--hooks-dir', fx.dir,
    '--pidfile', join(fx.root, 'run', 'hvvss.pid'), '--socket', join(fx.root, 'run', 'hvvss.sock'),
    '--state-dir', join(fx.root, 'state'), '--fs-include', mount.mountpoint,
  ]);
  defer(async () => {
    thawLoop(mount.mountpoint);
    await daemon.stop('SIGTERM').catch(() => daemon.stop('SIGKILL'));
  });
  await daemon.waitForLine(/registered on /);
  return { daemon, mount };
}

test('50-mysql on Linux: HOT_BACKUP, then FREEZE holds the global read lock and the file system; both are released at THAW', async (t) => {
  const db = needs(t, mariadb);
  if (!db) return;
  await db.query('CREATE DATABASE IF NOT EXISTS hvvss_test; CREATE TABLE IF NOT EXISTS hvvss_test.t (id INT) ENGINE=InnoDB; DELETE FROM hvvss_test.t');
  const fx = enabled('50-mysql.sample', { 'mysql.env': { MYSQL_SOCKET: db.socket, MYSQL_LOST_FILE: '@ROOT@/lost' } });
  const started = await startDaemon(t, fx);
  if (!started) return;
  const { daemon, mount } = started;
  assert.equal((await emu.host.linuxRequest('hot-backup')).result, 'success', daemon.output);
  assert.equal((await emu.host.linuxRequest('freeze')).result, 'success', daemon.output);
  const insert = db.client('INSERT INTO hvvss_test.t VALUES (1)');
  defer(() => void insert.child.kill('SIGKILL'));
  await until(
    async () => (await db.query("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE IN ('Waiting for global read lock', 'Waiting for backup lock') AND INFO LIKE 'INSERT INTO hvvss_test.t%'")) === '1',
    10_000,
    'the INSERT to wait for the global read lock',
  );
  const w = writer(mount.mountpoint);
  await blocked(w);
  assert.equal((await emu.host.linuxRequest('thaw')).result, 'success', daemon.output);
  assert.equal((await within(insert.exited, 10_000, 'the INSERT to complete after THAW')).code, 0, insert.output);
  assert.equal((await within(w.exited, 10_000, 'the writer after THAW')).code, 0);
  assert.equal(await db.query('SELECT COUNT(*) FROM hvvss_test.t'), '1');
  await daemon.waitForLine(/\[50-mysql\] global read lock of session \d+ released/);
});

test('60-postgresql on Linux: FREEZE runs a CHECKPOINT before the file system freezes; THAW succeeds', async (t) => {
  const db = needs(t, postgres);
  if (!db) return;
  const fx = enabled('60-postgresql.sample', { 'postgresql.env': { PG_HOST: db.socketDir, PG_PORT: String(db.port) } });
  const started = await startDaemon(t, fx);
  if (!started) return;
  const { daemon, mount } = started;
  assert.equal((await emu.host.linuxRequest('hot-backup')).result, 'success', daemon.output);
  const seen = db.log.lines.length;
  assert.equal((await emu.host.linuxRequest('freeze')).result, 'success', daemon.output);
  assert.ok(db.log.lines.slice(seen).some((l) => /checkpoint starting: .*immediate force wait/.test(l)), 'a CHECKPOINT command ran');
  const w = writer(mount.mountpoint);
  await blocked(w);
  assert.equal((await emu.host.linuxRequest('thaw')).result, 'success', daemon.output);
  assert.equal((await within(w.exited, 10_000, 'the writer after THAW')).code, 0);
  await daemon.waitForLine(/hook 60-postgresql thaw \(host\): ok/);
  assert.match(daemon.output, /hook 60-postgresql freeze \(host\): ok[^]*froze /);
});
