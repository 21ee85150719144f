// The sample hooks of hooks.d/, enabled as an admin would (copied without .sample), run by the real
// hvvss daemon against the emulator, with real MariaDB and PostgreSQL servers (test/admin/databases.ts).
// Database tests skip, saying why, when a server is not installed or does not start.
import { missing } from '../support/requirements.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startEmulator } from '../../src/emulator/host-client.ts';
import { within, type WatchedProcess } from '../support/process.ts';
import type { HooksFixture } from '../support/hooks-dir.ts';
import { until } from './databases.ts';
import { serversPerFile } from './servers-per-file.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { spawnDaemon } from '../support/daemon-fixture.ts';
import { enabledSamples, HOOKS_D, insertWaitingForReadLock, needs } from './sample-hooks.ts';

const defer = cleanupsPerTest();
const servers = serversPerFile(() => startEmulator({ timeoutMs: 15_000 }));

const enabled = (samples: string[], settings: Record<string, Record<string, string>> = {}): HooksFixture => enabledSamples(defer, samples, settings);

function startDaemon(fx: HooksFixture, extra: string[] = []): Promise<WatchedProcess> {
  return spawnDaemon(defer, { device: servers.emu.appDevice, hooksDir: fx.dir, root: fx.root, extra, teardown: 'terminate' });
}

test('the sample hooks are POSIX sh and shellcheck-clean', (t) => {
  const samples = readdirSync(HOOKS_D).sort();
  assert.deepEqual(samples, ['00-template.sample', '10-sync.sample', '50-mysql.sample', '60-postgresql.sample']);
  for (const sample of samples) {
    const syntax = spawnSync('sh', ['-n', join(HOOKS_D, sample)], { encoding: 'utf8' });
    assert.equal(syntax.status, 0, `${sample}: ${syntax.stderr}`);
  }
  if (spawnSync('shellcheck', ['--version']).error) return missing(t, 'shellcheck is not installed (apt-get install shellcheck)');
  const lint = spawnSync('shellcheck', samples.map((s) => join(HOOKS_D, s)), { encoding: 'utf8' });
  assert.equal(lint.status, 0, lint.stdout + lint.stderr);
});

test('00-template and 10-sync enabled as shipped: check, freeze and thaw succeed; the .sample files beside them are skipped', async () => {
  const fx = enabled(['00-template.sample', '10-sync.sample']);
  for (const sample of readdirSync(HOOKS_D)) copyFileSync(join(HOOKS_D, sample), join(fx.dir, sample));
  const daemon = await startDaemon(fx, ['-d']);
  assert.equal((await servers.emu.host.request('check')).result, 'success', daemon.output);
  assert.equal((await servers.emu.host.request('freeze')).result, 'success', daemon.output);
  assert.equal((await servers.emu.host.request('thaw')).result, 'success', daemon.output);
  for (const line of [/hook 00-template freeze \(host\): ok/, /hook 10-sync freeze \(host\): ok/, /hook 00-template thaw \(host\): ok/]) {
    await daemon.waitForLine(line);
  }
  await daemon.waitForLine(/hook 50-mysql\.sample skipped: sample file/);
  assert.ok(!/hook 50-mysql (check|freeze)/.test(daemon.output), daemon.output);
});

test('50-mysql: a write from another session blocks for the whole freeze and completes after thaw', async (t) => {
  const db = needs(t, servers.mariadb);
  if (!db) return;
  await db.query('CREATE DATABASE IF NOT EXISTS hvvss_test; CREATE TABLE IF NOT EXISTS hvvss_test.t (id INT) ENGINE=InnoDB; DELETE FROM hvvss_test.t');
  const fx = enabled(['50-mysql.sample'], { 'mysql.env': { MYSQL_SOCKET: db.socket, MYSQL_LOST_FILE: '@ROOT@/lost' } });
  const daemon = await startDaemon(fx);
  assert.equal((await servers.emu.host.request('check')).result, 'success', daemon.output);
  assert.equal((await servers.emu.host.request('freeze')).result, 'success', daemon.output);

  const insert = await insertWaitingForReadLock(defer, db, 1);
  assert.equal(insert.child.exitCode, null, 'the INSERT is still blocked');
  assert.equal(await db.query('SELECT COUNT(*) FROM hvvss_test.t'), '0', 'reads go on during the freeze');

  assert.equal((await servers.emu.host.request('thaw')).result, 'success', daemon.output);
  const exit = await within(insert.exited, 10_000, 'the INSERT to complete after thaw');
  assert.equal(exit.code, 0, insert.output);
  assert.equal(await db.query('SELECT COUNT(*) FROM hvvss_test.t'), '1');
  await daemon.waitForLine(/\[50-mysql\] global read lock held by session \d+/);
  await daemon.waitForLine(/\[50-mysql\] global read lock of session \d+ released/);
  assert.equal(await db.query('SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()'), '0', 'the hook left no session');
});

test('50-mysql: a freeze that fails later in the sequence rolls back and releases the lock', async (t) => {
  const db = needs(t, servers.mariadb);
  if (!db) return;
  await db.query('CREATE DATABASE IF NOT EXISTS hvvss_test; CREATE TABLE IF NOT EXISTS hvvss_test.t (id INT) ENGINE=InnoDB');
  const fx = enabled(['50-mysql.sample'], { 'mysql.env': { MYSQL_SOCKET: db.socket, MYSQL_LOST_FILE: '@ROOT@/lost' } });
  fx.add('70-fails', '[ "$1" = freeze ] && exit 1\nexit 0');
  const daemon = await startDaemon(fx);
  assert.equal((await servers.emu.host.request('freeze')).result, 'fail');
  await daemon.waitForLine(/thaw \(rollback, msgid \d+\): success/);
  const insert = db.client('INSERT INTO hvvss_test.t VALUES (2)');
  defer(() => void insert.child.kill('SIGKILL'));
  assert.equal((await within(insert.exited, 10_000, 'the INSERT after the rollback')).code, 0, insert.output);
});

test('50-mysql: a lock it cannot get within MYSQL_LOCK_WAIT fails the freeze in time, leaving nothing held', async (t) => {
  const db = needs(t, servers.mariadb);
  if (!db) return;
  await db.query('CREATE DATABASE IF NOT EXISTS hvvss_test; CREATE TABLE IF NOT EXISTS hvvss_test.t (id INT) ENGINE=InnoDB');
  // Another session holds a table lock that FLUSH TABLES WITH READ LOCK has to wait for.
  const holder = db.session();
  defer(() => void holder.child.kill('SIGKILL'));
  holder.child.stdin!.write("LOCK TABLES hvvss_test.t WRITE; SELECT CONCAT('held', '-lock');\n");
  await holder.waitForLine(/^held-lock$/);
  const fx = enabled(['50-mysql.sample'], { 'mysql.env': { MYSQL_SOCKET: db.socket, MYSQL_LOST_FILE: '@ROOT@/lost', MYSQL_LOCK_WAIT: '1' } });
  const daemon = await startDaemon(fx);
  const freeze = await servers.emu.host.request('freeze');
  assert.equal(freeze.result, 'fail');
  assert.equal(freeze.reason, 'app-failed', 'answered by the daemon, before the kernel\'s limit');
  await daemon.waitForLine(/\[50-mysql\] ERROR 1205 .*Lock wait timeout exceeded/);
  await daemon.waitForLine(/\[50-mysql\] could not take the global read lock/);
  await daemon.waitForLine(/thaw \(rollback, msgid \d+\): success/);
  holder.child.stdin!.end();
  assert.equal((await within(holder.exited, 10_000, 'the other session to end')).code, 0, holder.output);
  const insert = db.client('INSERT INTO hvvss_test.t VALUES (3)');
  defer(() => void insert.child.kill('SIGKILL'));
  assert.equal((await within(insert.exited, 10_000, 'an INSERT once the other lock is gone')).code, 0, insert.output);
});

test('50-mysql: a lock lost while frozen (session killed) makes the thaw fail', async (t) => {
  const db = needs(t, servers.mariadb);
  if (!db) return;
  const fx = enabled(['50-mysql.sample'], { 'mysql.env': { MYSQL_SOCKET: db.socket, MYSQL_LOST_FILE: '@ROOT@/lost' } });
  const lost = join(fx.root, 'lost');
  const daemon = await startDaemon(fx);
  assert.equal((await servers.emu.host.request('freeze')).result, 'success', daemon.output);
  // The hook's session is the only other one, idle while it holds the lock.
  const id = await db.query("SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND COMMAND = 'Sleep'");
  assert.match(id, /^\d+$/);
  await db.query(`KILL ${id}`);
  assert.equal((await servers.emu.host.request('thaw')).result, 'fail', daemon.output);
  await daemon.waitForLine(/\[50-mysql\] session \d+ no longer held the lock at thaw/);
  await daemon.waitForLine(/\[50-mysql\] the global read lock was lost during the freeze .*not application-consistent/);
  assert.ok(!existsSync(lost), 'thaw cleared the note: the next thaw succeeds');
  assert.equal((await servers.emu.host.request('thaw')).result, 'success', daemon.output);
});

test('60-postgresql: freeze runs a CHECKPOINT as the postgres user; thaw does nothing and succeeds', async (t) => {
  const db = needs(t, servers.postgres);
  if (!db) return;
  // PostgreSQL 17 moved the counter to pg_stat_checkpointer.
  const counter = Number(await db.query('SHOW server_version_num')) >= 170000
    ? 'SELECT num_requested FROM pg_stat_checkpointer'
    : 'SELECT checkpoints_req FROM pg_stat_bgwriter';
  const requested = async () => Number(await db.query(counter));
  const before = await requested();
  const fx = enabled(['60-postgresql.sample'], { 'postgresql.env': { PG_HOST: db.socketDir, PG_PORT: String(db.port) } });
  const daemon = await startDaemon(fx);
  assert.equal((await servers.emu.host.request('check')).result, 'success', daemon.output);
  const seen = db.log.lines.length;
  assert.equal((await servers.emu.host.request('freeze')).result, 'success', daemon.output);
  // The checkpoint was requested by the hook's session, and ran before the freeze was answered.
  const fromHook = db.log.lines.slice(seen).find((l) => /connection authorized: user=postgres database=postgres application_name=hvvss 60-postgresql/.test(l));
  assert.ok(fromHook, `the hook connected as postgres; server log:\n${db.log.lines.slice(seen).join('\n')}`);
  assert.ok(db.log.lines.slice(seen).some((l) => /checkpoint starting: .*immediate force wait/.test(l)), 'a CHECKPOINT command ran');
  await until(async () => (await requested()) > before, 10_000, 'the requested-checkpoint counter to move');
  assert.equal((await servers.emu.host.request('thaw')).result, 'success', daemon.output);
  await daemon.waitForLine(/hook 60-postgresql thaw \(host\): ok/);
});
