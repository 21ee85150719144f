// Lines held while frozen: nothing reaches the sink until flush(), then the first and the last
// lines in order with their own times, and a count of what was dropped in between.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentLogger, type LogLevel } from '../../src/log/logger.ts';

function capture() {
  const lines: Array<[LogLevel, string]> = [];
  return { lines, logger: new AgentLogger({ write: (level, message) => lines.push([level, message]) }) };
}

test('held lines reach the sink only at flush, in order', () => {
  const { lines, logger } = capture();
  logger.info('before');
  logger.hold();
  logger.info('one');
  logger.error('two');
  assert.deepEqual(lines, [['info', 'before']]);
  logger.flush();
  assert.deepEqual(lines, [['info', 'before'], ['info', 'one'], ['error', 'two']]);
  logger.info('after');
  assert.equal(lines.at(-1)?.[1], 'after');
});

test('a flood while held keeps the first 200 and the last 800 lines and says how many were dropped', () => {
  const { lines, logger } = capture();
  logger.hold();
  for (let i = 0; i < 100_000; i++) logger.info(`line ${i}`);
  logger.flush();
  assert.equal(lines.length, 200 + 1 + 800);
  assert.equal(lines[0]?.[1], 'line 0');
  assert.equal(lines[199]?.[1], 'line 199');
  assert.deepEqual(lines[200]?.[0], 'warning');
  assert.match(lines[200]?.[1] ?? '', /^99000 log line\(s\) dropped while frozen/);
  assert.equal(lines[201]?.[1], 'line 99200');
  assert.equal(lines.at(-1)?.[1], 'line 99999');
});

test('a held line is cut to a bounded length', () => {
  const { lines, logger } = capture();
  logger.hold();
  logger.info('x'.repeat(1_000_000));
  logger.flush();
  assert.ok((lines[0]?.[1].length ?? 0) < 2_100);
  assert.match(lines[0]?.[1] ?? '', /\.\.\. \(1000000 chars\)$/);
});

test('under systemd (JOURNAL_STREAM names stderr) lines carry their priority for journald; redirected elsewhere they stay readable', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hvvss-journal-'));
  try {
    const logger = new URL('../../src/log/logger.ts', import.meta.url).href;
    const script = `const { foregroundSink } = await import(${JSON.stringify(logger)}); const sink = foregroundSink(process.stderr); sink.write('error', 'disk gone', new Date()); sink.write('info', 'ready', new Date());`;
    const run = (journalStream: (fd: number) => string | undefined) => {
      const path = join(dir, `stderr-${Math.random()}`);
      const fd = openSync(path, 'w');
      const stat = fstatSync(fd);
      const value = journalStream(fd) ?? `${stat.dev}:${stat.ino}`;
      const env = { ...process.env, JOURNAL_STREAM: value };
      const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', fd], env });
      closeSync(fd);
      assert.equal(result.status, 0);
      return readFileSync(path, 'utf8');
    };
    assert.equal(run(() => undefined), '<3>disk gone\n<6>ready\n');
    const other = run(() => '1:2');
    assert.match(other, /^\d{4}-\d\d-\d\dT\S+ error +disk gone\n\S+ info +ready\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
