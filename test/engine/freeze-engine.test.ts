// The freeze engine's own rules with real hooks and a real journal (no device): nothing recorded
// when nothing will run, recovery that trusts only names resolved in the hooks directory, a
// journal kept when its hooks cannot be run, and no write when there is nothing to thaw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FreezeEngine } from '../../src/engine/freeze-engine.ts';
import { createHookEngine } from '../../src/engine/hook-engine.ts';
import { FreezeJournal } from '../../src/state/freeze-journal.ts';
import { silentLogger } from '../../src/manual/session.ts';
import { systemClock } from '../../src/util/clock.ts';
import { hooksFixture, RECORD, type HooksFixture } from '../support/hooks-dir.ts';

function engineFor(fx: HooksFixture): FreezeEngine {
  const hooks = createHookEngine({ dir: fx.dir, trustedUids: [0], hookTimeoutMs: 5_000, killGraceMs: 200, clock: systemClock, log: silentLogger });
  const journal = new FreezeJournal(join(fx.root, 'frozen.json'));
  return new FreezeEngine({ hooks, journal, clock: systemClock, log: silentLogger, holder: { kind: 'manual', pid: process.pid } });
}

const journalText = (fx: HooksFixture) => JSON.parse(readFileSync(join(fx.root, 'frozen.json'), 'utf8')) as { frozen: boolean; lastThaw?: { ok: boolean; reason: string } };

test('no hook to run: the freeze succeeds without recording anything, and its thaw writes nothing', async (t) => {
  const fx = hooksFixture();
  t.after(() => fx.cleanup());
  const engine = engineFor(fx);
  const attempt = await engine.freeze({ reason: 'manual' });
  assert.equal(attempt.ok, true);
  assert.equal(engine.frozen, undefined);
  assert.equal((await engine.thaw('manual')).ok, true);
  assert.equal(existsSync(join(fx.root, 'frozen.json')), false);
});

test('a freeze records its intent, stays frozen until thawed, and the thaw clears the journal', async (t) => {
  const fx = hooksFixture({ '10-a': RECORD, '20-b': RECORD });
  t.after(() => fx.cleanup());
  const engine = engineFor(fx);
  assert.equal((await engine.freeze({ reason: 'manual' })).ok, true);
  assert.deepEqual(engine.frozen?.hooks.map((h) => h.hook.name), ['10-a', '20-b']);
  assert.equal(journalText(fx).frozen, true);
  await assert.rejects(engine.freeze({ reason: 'manual' }), /already frozen/);
  assert.equal((await engine.thaw('manual')).ok, true);
  assert.equal(engine.frozen, undefined);
  assert.deepEqual(fx.log(), ['10-a freeze manual', '20-b freeze manual', '20-b thaw manual', '10-a thaw manual']);
  assert.deepEqual(journalText(fx), { version: 2, frozen: false, lastThaw: journalText(fx).lastThaw });
});

test('recovery runs only the recorded names that pass the checks in the configured directory, and says why not the others', async (t) => {
  const fx = hooksFixture({ '10-a': RECORD });
  t.after(() => fx.cleanup());
  fx.add('30-open', RECORD, 0o775);
  const engine = engineFor(fx);
  const record = {
    version: 2 as const, frozen: true as const, since: new Date().toISOString(), reason: 'host' as const, msgid: '7',
    holder: { kind: 'daemon' as const, pid: 1 }, hooksDir: '/somewhere/else',
    hooks: [{ name: '10-a', path: '/tmp/planted' }, { name: '20-gone', path: '/tmp/planted' }, { name: '30-open', path: '/tmp/planted' }],
  };
  const result = await engine.recover(record);
  assert.equal(result.ok, false);
  assert.deepEqual(fx.log(), ['10-a thaw recovery']);
  assert.ok(result.problems.some((p) => /cannot thaw 20-gone: it is no longer in/.test(p)), result.problems.join('\n'));
  assert.ok(result.problems.some((p) => /cannot thaw 30-open: refused, .*group-writable/.test(p)), result.problems.join('\n'));
  assert.equal(journalText(fx).frozen, false);
  assert.equal(journalText(fx).lastThaw?.reason, 'recovery');
});

test('a hooks directory that cannot be used keeps the journal for a later recovery, and runs nothing', async (t) => {
  const fx = hooksFixture({ '10-a': RECORD });
  t.after(() => fx.cleanup());
  const engine = engineFor(fx);
  assert.equal((await engine.freeze({ reason: 'manual' })).ok, true);
  const recorded = engine.journal.read();
  assert.ok(recorded);
  chmodSync(fx.dir, 0o777);
  const fresh = engineFor(fx);
  const result = await fresh.recover(recorded);
  assert.equal(result.ok, false);
  assert.match(result.problems[0] ?? '', /world-writable.*the journal is kept until they can be thawed/);
  assert.equal(journalText(fx).frozen, true);
  assert.deepEqual(fx.log(), ['10-a freeze manual']);
  chmodSync(fx.dir, 0o755);
  assert.equal((await fresh.recover(recorded)).ok, true);
  assert.deepEqual(fx.log(), ['10-a freeze manual', '10-a thaw recovery']);
});
