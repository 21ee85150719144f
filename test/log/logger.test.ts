// Lines held while frozen: nothing reaches the sink until flush(), then the first and the last
// lines in order with their own times, and a count of what was dropped in between.
import { test } from 'node:test';
import assert from 'node:assert/strict';
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
