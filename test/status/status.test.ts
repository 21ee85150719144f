// hvvss status gathered and rendered from real files, with no daemon: what a freeze record
// means depending on its holder, and the exit status monitoring reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { gatherStatus, STATUS_EXIT } from '../../src/status/status.ts';
import { renderPrometheus, renderStatus } from '../../src/status/render.ts';
import { FreezeJournal } from '../../src/state/freeze-journal.ts';
import { hooksFixture, RECORD, type HooksFixture } from '../support/hooks-dir.ts';

function setup(t: { after(fn: () => void): void }): { fx: HooksFixture; stateDir: string; input: Parameters<typeof gatherStatus>[0] } {
  const fx = hooksFixture({ '10-a': RECORD, '20-b': RECORD });
  t.after(() => fx.cleanup());
  const stateDir = join(fx.root, 'state');
  mkdirSync(stateDir, { mode: 0o700 });
  return { fx, stateDir, input: { socket: join(fx.root, 'no.sock'), pidfile: join(fx.root, 'no.pid'), stateDir, hooksDir: fx.dir } };
}

const intent = (fx: HooksFixture, holder: { kind: 'daemon' | 'manual'; pid: number }, reason: 'host' | 'manual') => ({
  since: new Date().toISOString(),
  reason,
  msgid: '',
  holder,
  hooksDir: fx.dir,
  hooks: [{ name: '10-a', path: join(fx.dir, '10-a') }, { name: '20-b', path: join(fx.dir, '20-b') }],
});

test('no daemon and nothing frozen: "daemon not running" (exit 1), the hooks listed', async (t) => {
  const { input } = setup(t);
  const report = await gatherStatus(input);
  assert.equal(report.exitCode, STATUS_EXIT.daemonNotRunning);
  assert.equal(report.freeze, undefined);
  assert.deepEqual(report.hooks.entries.map((e) => `${e.name} ${e.verdict}`), ['10-a runnable', '20-b runnable']);
  assert.match(renderStatus(report), /^daemon +not running \(nothing listens on .*\)$/m);
});

test('a freeze whose holder is gone is abandoned: frozen too long (exit 2), with what to run', async (t) => {
  const { fx, stateDir, input } = setup(t);
  await new FreezeJournal(join(stateDir, 'frozen.json')).recordIntent(intent(fx, { kind: 'manual', pid: 2 ** 22 + 12345 }, 'manual'));
  const report = await gatherStatus(input);
  assert.equal(report.exitCode, STATUS_EXIT.frozenTooLong);
  assert.equal(report.freeze?.abandoned, true);
  assert.ok(report.problems.some((p) => /2 hooks recorded as frozen since .* which is gone .*: run "hvvss thaw"/.test(p)), report.problems.join('\n'));
  assert.match(renderPrometheus(report), /^hvvss_status_code 2$/m);
  assert.match(renderPrometheus(report), /^hvvss_frozen\{holder="manual"\} 1$/m);
});

test('a manual freeze held by the daemon is told apart from a host backup', async (t) => {
  const { fx, stateDir, input } = setup(t);
  const journal = new FreezeJournal(join(stateDir, 'frozen.json'));
  await journal.recordIntent(intent(fx, { kind: 'daemon', pid: process.pid }, 'manual'));
  assert.match(renderStatus(await gatherStatus(input)), /^freeze +manual freeze \(hvvss freeze\) held by the daemon \(pid \d+\); "hvvss thaw" ends it, since /m);
  await journal.recordIntent(intent(fx, { kind: 'daemon', pid: process.pid }, 'host'));
  assert.match(renderStatus(await gatherStatus(input)), /^freeze +host backup held by the daemon \(pid \d+\), since /m);
});

test('a journal that cannot be read is reported with the reason, and nothing is taken as frozen', async (t) => {
  const { stateDir, input } = setup(t);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(stateDir, 'frozen.json'), 'not json');
  const report = await gatherStatus(input);
  assert.ok(report.problems.some((p) => /cannot read the freeze journal: the freeze journal .* is not valid JSON/.test(p)), report.problems.join('\n'));
  assert.equal(report.freeze, undefined);
  // Unknown (exit 3) ranks below a daemon that does not run (exit 1).
  assert.equal(report.exitCode, STATUS_EXIT.daemonNotRunning);
});
