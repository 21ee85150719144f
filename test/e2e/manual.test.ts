// hvvss check, freeze and thaw by hand, as separate processes with real hook scripts; no device
// involved. Every test ends with nothing frozen: the cleanup runs "hvvss thaw" when the journal
// still records a freeze.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { flat, hvvss, hvvssRun } from '../support/process.ts';
import { hooksFixture, RECORD, type HooksFixture } from '../support/hooks-dir.ts';
import { waitForFile } from '../support/watch-file.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';

const LIMITS = ['--timeout', '2', '--hook-timeout', '0.5', '--kill-grace', '0.2'];
const defer = cleanupsPerTest();


function fixture(hooks: Record<string, string> = {}): HooksFixture {
  const fx = hooksFixture(hooks);
  defer(() => fx.cleanup());
  defer(async () => {
    if (journal(fx).frozen) await hvvssRun(['thaw', ...dirs(fx)]);
  });
  return fx;
}

const dirs = (fx: HooksFixture): string[] => ['--hooks-dir', fx.dir, '--state-dir', join(fx.root, 'state')];
const args = (fx: HooksFixture, ...extra: string[]): string[] => [...dirs(fx), ...LIMITS, ...extra];

function journal(fx: HooksFixture): { frozen: boolean; holder?: { pid: number; kind: string }; lastThaw?: { reason: string } } {
  const path = join(fx.root, 'state', 'frozen.json');
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : { frozen: false };
}

/** A resident freeze hook: holds its "session" until its stdin closes, and says when it lets go. */
const RESIDENT = `${RECORD}
if [ "$1" = freeze ]; then
  echo READY >&"$HVVSS_NOTIFY_FD"
  cat >/dev/null
  echo "$HVVSS_HOOK released" >> "@LOG@"
fi`;

test('check runs every hook in name order with HVVSS_REASON=manual and reports each, in plain lines off a terminal', async () => {
  const fx = fixture({ '10-a': `${RECORD}\necho "10-a says hi"`, '20-b': RECORD, '30-fails': `${RECORD}\nexit 4`, '40-c': RECORD });
  fx.add('50-off.sample', RECORD);
  const run = await hvvssRun(['check', ...args(fx)]);
  assert.equal(run.code, 1, run.output);
  assert.deepEqual(fx.log(), ['10-a check manual', '20-b check manual', '30-fails check manual', '40-c check manual']);
  assert.match(run.stdout, /^check: 4 hooks, limit 2\.0 s \(10-a, 20-b, 30-fails, 40-c\)$/m);
  assert.match(run.stdout, /^ {2}\[10-a\] 10-a says hi$/m);
  assert.match(run.stdout, /^check 10-a: ok \(\d+ ms\)$/m);
  assert.match(run.stdout, /^check 30-fails: FAILED: exited with code 4 \(\d+ ms\)$/m);
  assert.match(run.stdout, /^FAILED: check failed: 30-fails exited with code 4$/m);
  assert.doesNotMatch(run.output, /\u001b\[/, 'no terminal escapes off a terminal');
});

test('freeze leaves the hooks frozen (a keeper holds the resident one), thaw thaws them in reverse; JSON describes each hook', async () => {
  const fx = fixture({ '10-a': RECORD, '20-held': RESIDENT, '30-c': RECORD });
  const freeze = await hvvssRun(['freeze', ...args(fx, '--max-frozen', '30', '--json')]);
  assert.equal(freeze.code, 0, freeze.output);
  const report = JSON.parse(freeze.stdout);
  assert.equal(report.ok, true);
  assert.deepEqual(report.steps.map((s: { op: string }) => s.op), ['freeze']);
  assert.deepEqual(report.steps[0].hooks.map((h: { hook: string; ok: boolean }) => [h.hook, h.ok]), [['10-a', true], ['20-held', true], ['30-c', true]]);
  assert.equal(report.steps[0].hooks[1].resident, true);
  assert.deepEqual(report.frozen.hooks, ['10-a', '20-held', '30-c']);
  // The command line is gone; the keeper it left behind is the recorded holder and holds the resident hook.
  const record = journal(fx);
  assert.equal(record.frozen, true);
  assert.deepEqual(record.holder, { pid: report.frozen.pid, kind: 'manual' });
  assert.deepEqual(fx.log(), ['10-a freeze manual', '20-held freeze manual', '30-c freeze manual']);

  const thaw = await hvvssRun(['thaw', ...args(fx)]);
  assert.equal(thaw.code, 0, thaw.output);
  assert.match(thaw.stdout, /^OK: thawed 3 hooks/m);
  assert.deepEqual(fx.log().slice(3), ['30-c thaw manual', '20-held released', '20-held thaw manual', '10-a thaw manual']);
  assert.equal(journal(fx).frozen, false);
  const again = await hvvssRun(['thaw', ...args(fx)]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /nothing is frozen \(last thaw at .*, manual\): nothing to thaw/);
});

test('a failing freeze stops there and rolls back in reverse, the failing hook included; later hooks never run', async () => {
  const fx = fixture({ '10-a': RECORD, '20-held': RESIDENT, '30-fails': `${RECORD}\n[ "$1" = freeze ] && { echo "no lock" >&2; exit 3; }\nexit 0`, '40-never': RECORD });
  const freeze = await hvvssRun(['freeze', ...args(fx)]);
  assert.equal(freeze.code, 1, freeze.output);
  assert.deepEqual(fx.log(), [
    '10-a freeze manual', '20-held freeze manual', '30-fails freeze manual',
    '30-fails thaw rollback', '20-held released', '20-held thaw rollback', '10-a thaw rollback',
  ]);
  assert.match(freeze.stdout, /^ {2}\[30-fails\] no lock$/m);
  assert.match(freeze.stdout, /^FAILED: freeze failed: 30-fails exited with code 3; rolled back 3 hooks$/m);
  assert.equal(journal(fx).frozen, false);
});

test('freeze -- COMMAND: the command runs while frozen; a failing command is thawed after and its status returned', async () => {
  const fx = fixture({ '10-a': RECORD, '20-held': RESIDENT });
  const run = await hvvssRun(['freeze', ...args(fx), '--', 'sh', '-c', `echo "snapshot while: $(tail -n 1 '${fx.logFile}')"; exit 7`]);
  assert.equal(run.code, 7, run.output);
  assert.match(run.stdout, /^snapshot while: 20-held freeze manual$/m);
  assert.deepEqual(fx.log(), ['10-a freeze manual', '20-held freeze manual', '20-held released', '20-held thaw manual', '10-a thaw manual']);
  assert.match(run.stdout, /^FAILED: sh -c .* exited with status 7; thawed 2 hooks$/m);
  assert.equal(journal(fx).frozen, false);

  const missing = await hvvssRun(['freeze', ...args(fx), '--', '/nonexistent/snap']);
  assert.equal(missing.code, 127);
  assert.match(missing.stdout, /cannot run \/nonexistent\/snap/);
  assert.deepEqual(fx.log().slice(-2), ['20-held thaw manual', '10-a thaw manual']);
});

test('freeze -- COMMAND interrupted with SIGINT: the command is stopped, the hooks thawed, exit 130', async () => {
  const fx = fixture({ '10-a': RECORD, '20-held': RESIDENT });
  const proc = hvvss(['freeze', ...args(fx), '--', 'sh', '-c', 'echo snapshot-started; exec sleep 30']);
  defer(async () => void (await proc.stop('SIGKILL')));
  await proc.waitForLine(/^snapshot-started$/);
  proc.child.kill('SIGINT');
  const exit = await proc.stop('SIGINT');
  assert.equal(exit.code, 130, proc.output);
  assert.match(proc.output, /SIGINT received: stopping, then thawing what was frozen/);
  assert.deepEqual(fx.log(), ['10-a freeze manual', '20-held freeze manual', '20-held released', '20-held thaw manual', '10-a thaw manual']);
  assert.equal(journal(fx).frozen, false);
});

test('a freeze left alone is thawed by the keeper after --max-frozen (HVVSS_REASON=watchdog)', async () => {
  const fx = fixture({ '10-a': RECORD, '20-held': RESIDENT });
  const freeze = await hvvssRun(['freeze', ...args(fx, '--max-frozen', '0.5')]);
  assert.equal(freeze.code, 0, freeze.output);
  assert.match(freeze.stdout, /^OK: frozen: 2 hooks, held by pid \d+; run "hvvss thaw" to thaw \(automatic thaw at .*, in [\d.]+ s\)$/m);
  const lines = await waitForFile(fx.logFile, (l) => l.includes('10-a thaw watchdog'), 10_000, 'the automatic thaw');
  assert.deepEqual(lines, ['10-a freeze manual', '20-held freeze manual', '20-held released', '20-held thaw watchdog', '10-a thaw watchdog']);
  const thaw = await hvvssRun(['thaw', ...args(fx)]);
  assert.equal(thaw.code, 0);
  assert.match(thaw.stdout, /nothing is frozen \(last thaw at .*, watchdog\)/);
});

test('manual runs exclude each other; a keeper killed while frozen is thawed from the journal by hvvss thaw', async () => {
  const fx = fixture({ '10-a': RECORD, '20-held': RESIDENT });
  const freeze = await hvvssRun(['freeze', ...args(fx, '--max-frozen', '30', '--json')]);
  const keeper = JSON.parse(freeze.stdout).frozen.pid as number;
  for (const op of ['check', 'freeze']) {
    const again = await hvvssRun([op, ...args(fx)]);
    assert.equal(again.code, 3, `${op}: ${again.output}`);
    assert.match(flat(again.stderr), new RegExp(`${op} refused: a manual freeze \\(hvvss freeze, kept by pid ${keeper}\\) holds the hooks since .*: run "hvvss thaw" to end it`));
  }
  const dry = await hvvssRun(['thaw', ...args(fx, '--dry-run')]);
  assert.match(dry.stdout, /^ +1 +20-held +frozen\n +2 +10-a +frozen$/m);
  assert.match(dry.stdout, /would thaw 2 hooks in this order: 20-held, 10-a \(frozen since .* by manual pid \d+, alive\)/);

  process.kill(keeper, 'SIGKILL');
  // Its resident hook lets go as its stdin closes with the keeper.
  await waitForFile(fx.logFile, (l) => l.includes('20-held released'));
  const thaw = await hvvssRun(['thaw', ...args(fx)]);
  assert.equal(thaw.code, 0, thaw.output);
  assert.match(thaw.stdout, new RegExp(`warning: the freeze journal records 2 hooks frozen since .* by manual pid ${keeper}, which is gone: thawing them from the journal`));
  assert.deepEqual(fx.log().slice(-2), ['20-held thaw recovery', '10-a thaw recovery']);
  assert.equal(journal(fx).frozen, false);
});

test('--dry-run lists what would run, in order, with each verdict, and runs nothing', async () => {
  const fx = fixture({ '20-b': RECORD, '10-a': RECORD });
  fx.add('30-off.sample', RECORD);
  fx.add('40-noexec', RECORD, 0o644);
  const dry = await hvvssRun(['freeze', ...args(fx, '--dry-run')]);
  assert.equal(dry.code, 0, dry.output);
  assert.match(dry.stdout, /^ +1 +10-a +runnable\n +2 +20-b +runnable\n/m);
  assert.match(dry.stdout, /^ +- +30-off\.sample +skipped: sample file \(\*\.sample\)$/m);
  assert.match(dry.stdout, /^ +- +40-noexec +skipped: not executable \(mode 0644\)$/m);
  assert.match(dry.stdout, /^OK: would freeze 2 hooks in this order: 10-a, 20-b \(and thaw them in reverse\)$/m);
  fx.add('50-gw', RECORD, 0o775);
  const refused = await hvvssRun(['check', ...args(fx, '--dry-run', '--json')]);
  assert.equal(refused.code, 1);
  const report = JSON.parse(refused.stdout);
  assert.deepEqual(report.entries.find((e: { name: string }) => e.name === '50-gw'), { name: '50-gw', verdict: 'refused', why: `group-writable (mode 0775); fix: chmod go-w ${fx.dir}/50-gw` });
  assert.match(report.summary, /check would fail, nothing would run: refused 1 hook: 50-gw/);
  assert.deepEqual(fx.log(), []);
});
