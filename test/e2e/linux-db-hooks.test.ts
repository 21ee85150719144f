// The sample database hooks, enabled as an admin would, run unchanged by the hvvss daemon on the
// Linux protocol (the emulated /dev/vmbus/hv_vss), with real MariaDB and PostgreSQL servers
// (test/admin/databases.ts). On Linux the fs stage is always on: --fs-include names a loop mount
// this test made, so nothing else is ever frozen; it freezes after the database hooks.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startLinuxEmulator } from '../../src/emulator/host-client.ts';
import { within, type WatchedProcess } from '../support/process.ts';
import type { HooksFixture } from '../support/hooks-dir.ts';
import { serversPerFile } from '../admin/servers-per-file.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { loopMountsForTest, type LoopMount } from '../support/loop-fs.ts';
import { spawnDaemon } from '../support/daemon-fixture.ts';
import { enabledSamples, insertWaitingForReadLock, needs } from '../admin/sample-hooks.ts';
import { blocked, writer } from '../fs/writer.ts';

const defer = cleanupsPerTest();
const servers = serversPerFile(() => startLinuxEmulator());

async function startDaemon(t: TestContext, fx: HooksFixture): Promise<{ daemon: WatchedProcess; mount: LoopMount } | undefined> {
  const [mount] = loopMountsForTest(t, defer, ['ext4']) ?? [];
  if (!mount) return undefined;
  const daemon = await spawnDaemon(defer, {
    device: servers.emu.device, hooksDir: fx.dir, root: fx.root, flags: ['--fs-include', mount.mountpoint], thaw: [mount.mountpoint], teardown: 'terminate',
  });
  return { daemon, mount };
}

test('50-mysql on Linux: HOT_BACKUP, then FREEZE holds the global read lock and the file system; both are released at THAW', async (t) => {
  const db = needs(t, servers.mariadb);
  if (!db) return;
  await db.query('CREATE DATABASE IF NOT EXISTS hvvss_test; CREATE TABLE IF NOT EXISTS hvvss_test.t (id INT) ENGINE=InnoDB; DELETE FROM hvvss_test.t');
  const fx = enabledSamples(defer, ['50-mysql.sample'], { 'mysql.env': { MYSQL_SOCKET: db.socket, MYSQL_LOST_FILE: '@ROOT@/lost' } });
  const started = await startDaemon(t, fx);
  if (!started) return;
  const { daemon, mount } = started;
  assert.equal((await servers.emu.host.linuxRequest('hot-backup')).result, 'success', daemon.output);
  assert.equal((await servers.emu.host.linuxRequest('freeze')).result, 'success', daemon.output);
  const insert = await insertWaitingForReadLock(defer, db, 1);
  const w = writer(mount.mountpoint);
  await blocked(w);
  assert.equal((await servers.emu.host.linuxRequest('thaw')).result, 'success', daemon.output);
  assert.equal((await within(insert.exited, 10_000, 'the INSERT to complete after THAW')).code, 0, insert.output);
  assert.equal((await within(w.exited, 10_000, 'the writer after THAW')).code, 0);
  assert.equal(await db.query('SELECT COUNT(*) FROM hvvss_test.t'), '1');
  await daemon.waitForLine(/\[50-mysql\] global read lock of session \d+ released/);
});

test('60-postgresql on Linux: FREEZE runs a CHECKPOINT before the file system freezes; THAW succeeds', async (t) => {
  const db = needs(t, servers.postgres);
  if (!db) return;
  const fx = enabledSamples(defer, ['60-postgresql.sample'], { 'postgresql.env': { PG_HOST: db.socketDir, PG_PORT: String(db.port) } });
  const started = await startDaemon(t, fx);
  if (!started) return;
  const { daemon, mount } = started;
  assert.equal((await servers.emu.host.linuxRequest('hot-backup')).result, 'success', daemon.output);
  const seen = db.log.lines.length;
  assert.equal((await servers.emu.host.linuxRequest('freeze')).result, 'success', daemon.output);
  assert.ok(db.log.lines.slice(seen).some((l) => /checkpoint starting: .*immediate force wait/.test(l)), 'a CHECKPOINT command ran');
  const w = writer(mount.mountpoint);
  await blocked(w);
  assert.equal((await servers.emu.host.linuxRequest('thaw')).result, 'success', daemon.output);
  assert.equal((await within(w.exited, 10_000, 'the writer after THAW')).code, 0);
  await daemon.waitForLine(/hook 60-postgresql thaw \(host\): ok/);
  assert.match(daemon.output, /hook 60-postgresql freeze \(host\): ok[^]*froze /);
});
