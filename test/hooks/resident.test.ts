import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scanHooks } from '../../src/hooks/hook-scan.ts';
import { checkAll, freezeAll, thawAll } from '../../src/hooks/hook-sequence.ts';
import { runHook } from '../../src/hooks/hook-runner.ts';
import type { BrokenFreezeEvent } from '../../src/hooks/types.ts';
import { systemClock } from '../../src/util/clock.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { alive, collector, logging, sandbox } from './fixtures.ts';
import { within } from '../support/process.ts';

const ROOT_ONLY = { trustedUids: [0] };

/** A resident hook: on freeze it says READY on fd 3 and holds until stdin EOF (like a held database session). */
function residentBody(log: string): string {
  return `case "$1" in
freeze)
  echo "$HVVSS_HOOK freeze-start" >> '${log}'
  echo "holding" 
  echo READY >&$HVVSS_NOTIFY_FD
  cat > /dev/null
  echo "$HVVSS_HOOK let-go" >> '${log}'
  ;;
*) echo "$HVVSS_HOOK $1" >> '${log}' ;;
esac`;
}

test('READY makes freeze succeed while the process lives; thaw closes stdin, waits, then runs thaw', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  await sb.hook('10-plain', logging(sb.log));
  await sb.hook('20-db', residentBody(sb.log));
  await sb.hook('30-plain', logging(sb.log));
  const scan = await scanHooks(sb.hooks, ROOT_ONLY);
  const c = collector();

  assert.equal((await checkAll(scan, { reason: 'manual' })).ok, true);
  const freeze = await freezeAll(scan, { reason: 'host', hookTimeoutMs: 5_000, onLog: c.onLog });
  assert.equal(freeze.ok, true, JSON.stringify(freeze.results));
  const db = freeze.frozen[1];
  assert.equal(db?.hook.name, '20-db');
  const resident = db?.resident;
  assert.ok(resident, '20-db is resident');
  sb.groups.push(resident.pid);
  assert.equal(freeze.results[1]?.resident, true);
  assert.equal(freeze.results[1]?.ok, true);
  assert.equal(alive(resident.pid), true, 'resident process is running');
  assert.equal(resident.alive, true);
  assert.ok(c.lines.some((l) => l.hook === '20-db' && l.stream === 'stdout' && l.line === 'holding'));

  const thaw = await thawAll(freeze.frozen, { reason: 'host', onLog: c.onLog });
  assert.equal(thaw.ok, true, JSON.stringify(thaw.results));
  assert.deepEqual(thaw.results.map((r) => r.hook), ['30-plain', '20-db', '10-plain']);
  assert.equal(thaw.results[1]?.resident, true);
  assert.equal(thaw.results[1]?.release, 'exited');
  assert.equal(resident.alive, false);
  assert.equal(alive(resident.pid), false);
  assert.deepEqual((await sb.readLog()).slice(3), [
    '10-plain freeze host', '20-db freeze-start', '30-plain freeze host',
    '30-plain thaw host', '20-db let-go', '20-db thaw', '10-plain thaw host',
  ]);
});

test('a resident process that dies while frozen is a broken freeze: event at once, failed thaw result, thaw still runs', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  await sb.hook('20-db', residentBody(sb.log));
  const scan = await scanHooks(sb.hooks, ROOT_ONLY);
  let onBroken!: (e: BrokenFreezeEvent) => void;
  const broken = new Promise<BrokenFreezeEvent>((resolve) => (onBroken = resolve));

  const freeze = await freezeAll(scan, { reason: 'host', onBrokenFreeze: onBroken });
  assert.equal(freeze.ok, true);
  const resident = freeze.frozen[0]?.resident;
  assert.ok(resident);
  sb.groups.push(resident.pid);
  process.kill(-resident.pid, 'SIGKILL'); // the session dies (e.g. the database restarted)

  const event = await within(broken, 5_000, 'the broken-freeze event');
  assert.equal(event.hook, '20-db');
  assert.equal(event.pid, resident.pid);
  assert.equal(event.signal, 'SIGKILL');
  assert.deepEqual(resident.brokenFreeze, event);

  const thaw = await thawAll(freeze.frozen, { reason: 'host' });
  assert.equal(thaw.ok, false);
  const r = thaw.results[0];
  assert.equal(r?.ok, false);
  assert.equal(r?.brokenFreeze, true);
  assert.equal(r?.release, 'already-dead');
  assert.equal(r?.exitCode, 0, 'the thaw invocation itself succeeded');
  assert.match(r?.error ?? '', /broken freeze/);
  assert.deepEqual(await sb.readLog(), ['20-db freeze-start', '20-db thaw']);
});

test('a resident process that ignores stdin EOF is killed at thaw, then thaw runs', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  await sb.hook('20-deaf', `case "$1" in
freeze) echo READY >&3; exec sleep 30 ;;
*) echo "$HVVSS_HOOK $1" >> '${sb.log}' ;;
esac`);
  const scan = await scanHooks(sb.hooks, ROOT_ONLY);
  let brokenEvents = 0;
  const freeze = await freezeAll(scan, { reason: 'host', onBrokenFreeze: () => brokenEvents++ });
  const resident = freeze.frozen[0]?.resident;
  assert.ok(resident);
  sb.groups.push(resident.pid);

  const c = collector();
  const thaw = await thawAll(freeze.frozen, { reason: 'host', releaseTimeoutMs: 300, killGraceMs: 200, onLog: c.onLog });
  const r = thaw.results[0];
  assert.equal(r?.release, 'killed');
  assert.equal(r?.ok, true, 'the freeze was let go of, by force, and thaw ran');
  assert.equal(alive(resident.pid), false);
  assert.equal(brokenEvents, 0, 'a kill at release is not a broken freeze');
  assert.ok(c.lines.some((l) => l.hook === '20-deaf' && l.stream === 'runner' && /did not exit/.test(l.line)));
  assert.deepEqual(await sb.readLog(), ['20-deaf thaw']);
});

test('a freeze that exits 0 without READY is an ordinary freeze; a failure before READY is a failure', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const plain = await sb.hook('10-plain', 'exit 0');
  const bad = await sb.hook('20-bad', 'exit 4');
  const slow = await sb.hook('30-slow', 'sleep 30; echo READY >&3');
  const a = await runHook({ name: '10-plain', path: plain }, { op: 'freeze', reason: 'host' });
  assert.equal(a.result.ok, true);
  assert.equal(a.resident, undefined);
  assert.equal(a.result.resident, undefined);
  const b = await runHook({ name: '20-bad', path: bad }, { op: 'freeze', reason: 'host' });
  assert.equal(b.result.ok, false);
  assert.equal(b.resident, undefined);
  const s = await runHook({ name: '30-slow', path: slow }, { op: 'freeze', reason: 'host', hookTimeoutMs: 300, killGraceMs: 200 });
  assert.equal(s.result.timedOut, true);
  assert.equal(s.resident, undefined);
});

test('the hook timeout stops applying once READY arrived', async (t) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const p = await sb.hook('10-db', residentBody(sb.log));
  const clock = new FakeClock();
  const c = collector();
  let broken = 0;
  const { result, resident } = await runHook(
    { name: '10-db', path: p },
    { op: 'freeze', reason: 'host', clock, hookTimeoutMs: 200, onLog: c.onLog, onBrokenFreeze: () => broken++ },
  );
  assert.equal(result.ok, true);
  assert.ok(resident);
  sb.groups.push(resident.pid);
  clock.advance(60_000); // far past the freeze timeout: no timer may fire any more
  assert.equal(c.lines.some((l) => l.stream === 'runner' && /timed out|SIG/.test(l.line)), false);
  // Had it been signalled, it could not let go gracefully: "let-go" proves it was still holding, untouched.
  const outcome = await resident.release({ clock: systemClock, timeoutMs: 5_000 });
  assert.equal(outcome.how, 'exited');
  assert.equal(outcome.exitCode, 0);
  assert.equal(broken, 0);
  assert.deepEqual(await sb.readLog(), ['10-db freeze-start', '10-db let-go']);
});

