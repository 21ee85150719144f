import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scanHooks } from '../../src/hooks/hook-scan.ts';
import { checkAll, freezeAll, thawAll } from '../../src/hooks/hook-sequence.ts';
import { logging, sandbox } from './fixtures.ts';

const ROOT_ONLY = { trustedUids: [0] };

test('check and freeze run in byte order of names, thaw in reverse', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  for (const name of ['a', '10-a', 'Z', '2-b']) await sb.hook(name, logging(sb.log));
  const scan = await scanHooks(sb.hooks, ROOT_ONLY);

  const check = await checkAll(scan, { reason: 'manual' });
  assert.equal(check.ok, true);
  const freeze = await freezeAll(scan, { reason: 'host', msgid: '7' });
  assert.equal(freeze.ok, true);
  assert.deepEqual(freeze.frozen.map((f) => f.hook.name), ['10-a', '2-b', 'Z', 'a']);
  const thaw = await thawAll(freeze.frozen, { reason: 'host', msgid: '7' });
  assert.equal(thaw.ok, true);
  assert.deepEqual(thaw.results.map((r) => r.hook), ['a', 'Z', '2-b', '10-a']);

  assert.deepEqual(await sb.readLog(), [
    '10-a check manual', '2-b check manual', 'Z check manual', 'a check manual',
    '10-a freeze host', '2-b freeze host', 'Z freeze host', 'a freeze host',
    'a thaw host', 'Z thaw host', '2-b thaw host', '10-a thaw host',
  ]);
});

test('checkAll runs every hook even after a failure, and fails', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  await sb.hook('10-a', logging(sb.log, 1));
  await sb.hook('20-b', logging(sb.log));
  const check = await checkAll(await scanHooks(sb.hooks, ROOT_ONLY), { reason: 'manual' });
  assert.equal(check.ok, false);
  assert.deepEqual(check.results.map((r) => [r.hook, r.ok]), [['10-a', false], ['20-b', true]]);
  assert.deepEqual(await sb.readLog(), ['10-a check manual', '20-b check manual']);
});

test('a failing freeze in the middle stops; frozen includes it; rollback thaws it and the earlier ones', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  await sb.hook('10-a', logging(sb.log));
  await sb.hook('20-b', `echo "$HVVSS_HOOK $1 $HVVSS_REASON" >> '${sb.log}'; [ "$1" = freeze ] && exit 1; exit 0`);
  await sb.hook('30-c', logging(sb.log));
  const scan = await scanHooks(sb.hooks, ROOT_ONLY);

  const freeze = await freezeAll(scan, { reason: 'host' });
  assert.equal(freeze.ok, false);
  assert.deepEqual(freeze.results.map((r) => [r.hook, r.ok, r.exitCode]), [['10-a', true, 0], ['20-b', false, 1]]);
  assert.deepEqual(freeze.frozen.map((f) => f.hook.name), ['10-a', '20-b']);

  const thaw = await thawAll(freeze.frozen, { reason: 'rollback' });
  assert.equal(thaw.ok, true);
  assert.deepEqual(await sb.readLog(), ['10-a freeze host', '20-b freeze host', '20-b thaw rollback', '10-a thaw rollback']);
});

test('a timed-out freeze stops the sequence too', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  await sb.hook('10-slow', 'exec sleep 30');
  await sb.hook('20-b', logging(sb.log));
  const freeze = await freezeAll(await scanHooks(sb.hooks, ROOT_ONLY), { reason: 'host', hookTimeoutMs: 300, killGraceMs: 200 });
  assert.equal(freeze.ok, false);
  assert.equal(freeze.results[0]?.timedOut, true);
  assert.deepEqual(freeze.frozen.map((f) => f.hook.name), ['10-slow']);
  assert.deepEqual(await sb.readLog(), []);
});

test('thawAll runs every thaw even if one fails, and fails', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  await sb.hook('10-a', logging(sb.log));
  await sb.hook('20-b', `echo "$HVVSS_HOOK $1 $HVVSS_REASON" >> '${sb.log}'; [ "$1" = thaw ] && exit 2; exit 0`);
  await sb.hook('30-c', logging(sb.log));
  const freeze = await freezeAll(await scanHooks(sb.hooks, ROOT_ONLY), { reason: 'host' });
  assert.equal(freeze.ok, true);
  const thaw = await thawAll(freeze.frozen, { reason: 'host' });
  assert.equal(thaw.ok, false);
  assert.deepEqual(thaw.results.map((r) => [r.hook, r.ok]), [['30-c', true], ['20-b', false], ['10-a', true]]);
  assert.deepEqual((await sb.readLog()).slice(3), ['30-c thaw host', '20-b thaw host', '10-a thaw host']);
});

test('no runnable hooks: every sequence succeeds trivially', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const scan = await scanHooks(sb.hooks, ROOT_ONLY);
  assert.equal((await checkAll(scan, { reason: 'manual' })).ok, true);
  const freeze = await freezeAll(scan, { reason: 'host' });
  assert.equal(freeze.ok, true);
  assert.equal((await thawAll(freeze.frozen, { reason: 'host' })).ok, true);
});
