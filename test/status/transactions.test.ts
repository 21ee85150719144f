// The fs stage's per-mount results in `hvvss status`: each transaction of the daemon's history
// that acted on file systems lists, per mount, the mountpoint, type, action, operation, result,
// duration and error, in the text, in --json and in the Prometheus metrics. The daemon's side
// is the document it serves on its status socket; a socket here serves one such document to the
// real command (its fast path: no oclif), so every case, failures included, is rendered exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import { hooksFixture, RECORD } from '../support/hooks-dir.ts';
import { hvvssRun } from '../support/process.ts';
import type { DaemonSnapshot } from '../../src/status/status.ts';
import type { TransactionRecord } from '../../src/daemon/transaction-history.ts';

const at = '2026-12-03T10:00:00.000Z';
const hook = (name: string, op: 'freeze' | 'thaw', reason: TransactionRecord['reason']) =>
  ({ hook: name, op, reason, ok: true, exitCode: 0, signal: null, timedOut: false, durationMs: 3 }) as unknown as TransactionRecord['hooks'][number];

/** A backup through both devices (newest first), then one through the application device alone whose second mount failed. */
const TRANSACTIONS: TransactionRecord[] = [
  {
    op: 'thaw', msgid: '42', reason: 'host', device: 'fs', startedAt: at, durationMs: 9, result: 'success',
    answer: { status: 'success', elapsedMs: 9, late: false, delivered: true }, hooks: [],
    mounts: [
      { mountpoint: '/mnt/a', fstype: 'ext4', action: 'fifreeze', op: 'thaw', ok: true, durationMs: 1.2 },
      { mountpoint: '/mnt/b', fstype: 'ext4', action: 'fifreeze', op: 'thaw', ok: true, durationMs: 0.8, note: 'was not frozen' },
    ],
    problems: [],
  },
  {
    op: 'freeze', msgid: '41', reason: 'host', device: 'fs', startedAt: at, durationMs: 88, result: 'success',
    answer: { status: 'success', elapsedMs: 88, late: false, delivered: true }, hooks: [],
    mounts: [
      { mountpoint: '/mnt/b', fstype: 'ext4', action: 'fifreeze', op: 'freeze', ok: true, durationMs: 41.4 },
      { mountpoint: '/mnt/a', fstype: 'ext4', action: 'fifreeze', op: 'freeze', ok: true, durationMs: 40.6 },
    ],
    problems: [],
  },
  {
    op: 'freeze', msgid: '41', reason: 'host', startedAt: at, durationMs: 20, result: 'success',
    answer: { status: 'success', elapsedMs: 20, late: false, delivered: true }, hooks: [hook('10-db', 'freeze', 'host')], problems: [],
  },
  {
    op: 'freeze', msgid: '40', reason: 'host', startedAt: at, durationMs: 60, result: 'fail',
    answer: { status: 'fail', elapsedMs: 60, late: false, delivered: true }, hooks: [hook('10-db', 'freeze', 'host')],
    mounts: [
      { mountpoint: '/mnt/b', fstype: 'ext4', action: 'fifreeze', op: 'freeze', ok: true, durationMs: 40 },
      { mountpoint: '/mnt/a', fstype: 'ext4', action: 'fifreeze', op: 'freeze', ok: false, durationMs: 0.4, error: 'cannot freeze /mnt/a (ext4): FIFREEZE /mnt/a: EBUSY' },
      { mountpoint: '/mnt/b', fstype: 'ext4', action: 'fifreeze', op: 'thaw', ok: true, durationMs: 0.3 },
    ],
    problems: ['cannot freeze /mnt/a (ext4): FIFREEZE /mnt/a: EBUSY'],
  },
];

async function serveSnapshot(t: { after(fn: () => unknown): void }): Promise<{ args: string[] }> {
  const fx = hooksFixture({ '10-db': RECORD });
  t.after(() => fx.cleanup());
  const run = join(fx.root, 'run');
  const stateDir = join(fx.root, 'state');
  mkdirSync(run, { mode: 0o700 });
  mkdirSync(stateDir, { mode: 0o700 });
  const snapshot: DaemonSnapshot = {
    pid: process.pid, startedAt: at, uptimeMs: 60_000, device: '/dev/hv_appvss_dev', registered: true,
    devices: [{ role: 'application', path: '/dev/hv_appvss_dev' }, { role: 'fs', path: '/dev/hv_fsvss_dev' }],
    hooksDir: fx.dir, phase: 'idle', current: undefined, frozen: undefined, transactions: TRANSACTIONS, counters: [], lateAnswers: 0,
    fsRole: { policy: { include: ['/mnt/a', '/mnt/b'] } },
  };
  const socket = join(run, 'hvvss.sock');
  const server = createServer((conn) => conn.once('data', () => conn.end(JSON.stringify(snapshot))));
  server.listen(socket);
  await once(server, 'listening');
  t.after(() => server.close());
  return { args: ['--socket', socket, '--pidfile', join(run, 'hvvss.pid'), '--state-dir', stateDir, '--hooks-dir', fx.dir] };
}

test('status --json carries each transaction\'s per-mount results: mountpoint, type, action, op, ok, duration, error', async (t) => {
  const { args } = await serveSnapshot(t);
  const run = await hvvssRun(['status', '--json', ...args]);
  const report = JSON.parse(run.stdout) as { transactions: TransactionRecord[] };
  assert.deepEqual(report.transactions, TRANSACTIONS);
  const failed = report.transactions[3]?.mounts?.find((m) => !m.ok);
  assert.equal(failed?.error, 'cannot freeze /mnt/a (ext4): FIFREEZE /mnt/a: EBUSY');
});

test('status text lists the mounts under each transaction, the fs device\'s requests marked "fs", failures with their error', async (t) => {
  const { args } = await serveSnapshot(t);
  const run = await hvvssRun(['status', ...args]);
  const lines = run.stdout.split('\n');
  const start = lines.indexOf('last transactions, newest first:');
  assert.ok(start >= 0, run.stdout);
  assert.deepEqual(lines.slice(start + 1, start + 12).map((l) => l.replace(/^ {2}\S+ {2}/, '  <at>  ')), [
    '  <at>  fs thaw msgid 42     success host     9 ms, answered success in 9 ms',
    '    thaw   /mnt/a (ext4, fifreeze): ok, 1 ms',
    '    thaw   /mnt/b (ext4, fifreeze): ok, 1 ms (was not frozen)',
    '  <at>  fs freeze msgid 41     success host     88 ms, answered success in 88 ms',
    '    freeze /mnt/b (ext4, fifreeze): ok, 41 ms',
    '    freeze /mnt/a (ext4, fifreeze): ok, 41 ms',
    '  <at>  freeze msgid 41     success host     20 ms, answered success in 20 ms [10-db 3 ms]',
    '  <at>  freeze msgid 40     fail    host     60 ms, answered fail in 60 ms [10-db 3 ms]; cannot freeze /mnt/a (ext4): FIFREEZE /mnt/a: EBUSY',
    '    freeze /mnt/b (ext4, fifreeze): ok, 40 ms',
    '    freeze /mnt/a (ext4, fifreeze): FAILED, 0 ms: cannot freeze /mnt/a (ext4): FIFREEZE /mnt/a: EBUSY',
    '    thaw   /mnt/b (ext4, fifreeze): ok, 0 ms',
  ]);
});

test('status --prometheus: the fs device\'s requests counted apart ("fs freeze"), each mount\'s last duration', async (t) => {
  const { args } = await serveSnapshot(t);
  const run = await hvvssRun(['status', '--prometheus', ...args]);
  assert.match(run.stdout, /^hvvss_last_transaction_seconds\{op="fs freeze",result="success"\} 0\.088$/m);
  assert.match(run.stdout, /^hvvss_last_transaction_seconds\{op="freeze",result="success"\} 0\.02$/m);
  assert.match(run.stdout, /^hvvss_last_mount_seconds\{mountpoint="\/mnt\/b",fstype="ext4",action="fifreeze",op="freeze",ok="true"\} 0\.0414$/m);
  assert.match(run.stdout, /^hvvss_last_mount_seconds\{mountpoint="\/mnt\/b",fstype="ext4",action="fifreeze",op="thaw",ok="true"\} 0\.0008$/m);
});
