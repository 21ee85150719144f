// The operator commands while a daemon runs: given the daemon's socket, hvvss check, freeze and
// thaw have the daemon run the hooks on its own engine (one owner of every freeze). A manual
// freeze held by the daemon keeps the host out, is thawed by hvvss thaw, by its watchdog, when
// the freeze -- COMMAND that asked for it dies, and when the daemon stops.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { emulatorPerFile } from '../support/emulator.ts';
import { hvvss, hvvssRun, within, type WatchedProcess } from '../support/process.ts';
import { hooksFixture, RECORD, type HooksFixture } from '../support/hooks-dir.ts';
import { waitForFile } from '../support/watch-file.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';

const KERNEL_TIMEOUT_S = 3;
const LIMITS = ['--timeout', '2', '--hook-timeout', '1', '--kill-grace', '0.2'];

const defer = cleanupsPerTest();
const emu = emulatorPerFile({ timeoutMs: KERNEL_TIMEOUT_S * 1000 });

const RESIDENT = `${RECORD}
if [ "$1" = freeze ]; then echo READY >&"$HVVSS_NOTIFY_FD"; cat >/dev/null; echo "$HVVSS_HOOK released" >> "@LOG@"; fi`;

function fixture(): HooksFixture {
  const fx = hooksFixture({ '10-a': RECORD, '20-held': RESIDENT });
  defer(() => fx.cleanup());
  return fx;
}

const socket = (fx: HooksFixture) => join(fx.root, 'run', 'hvvss.sock');
const stateDir = (fx: HooksFixture) => join(fx.root, 'state');
const manual = (fx: HooksFixture, ...extra: string[]) => ['--hooks-dir', fx.dir, '--state-dir', stateDir(fx), '--socket', socket(fx), ...LIMITS, ...extra];

function journal(fx: HooksFixture): { frozen: boolean; holder?: { kind: string; pid: number } } {
  const path = join(stateDir(fx), 'frozen.json');
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : { frozen: false };
}

/** Resolves once the journal says nothing is frozen (checked on every change in the state directory). */
async function journalClear(fx: HooksFixture, ms = 10_000): Promise<void> {
  const watcher = watch(stateDir(fx));
  try {
    await within(
      new Promise<void>((resolve) => {
        const check = () => {
          if (!journal(fx).frozen) resolve();
        };
        watcher.on('change', check);
        check();
      }),
      ms,
      'the journal to be cleared',
    );
  } finally {
    watcher.close();
  }
}

async function startDaemon(fx: HooksFixture): Promise<WatchedProcess> {
  const daemon = hvvss([
    'daemon', '-n', '--device', emu.appDevice, '--hooks-dir', fx.dir, '--pidfile', join(fx.root, 'run', 'hvvss.pid'),
    '--socket', socket(fx), '--state-dir', stateDir(fx), '--kernel-timeout', String(KERNEL_TIMEOUT_S), ...LIMITS,
  ]);
  defer(async () => void (await daemon.stop('SIGKILL')));
  await daemon.waitForLine(/registered on /);
  return daemon;
}

test('check runs through the daemon: the hooks run with HVVSS_REASON=manual although the daemon holds the hooks lock', async () => {
  const fx = fixture();
  const daemon = await startDaemon(fx);
  const check = await hvvssRun(['check', ...manual(fx)]);
  assert.equal(check.code, 0, check.output);
  assert.deepEqual(fx.log(), ['10-a check manual', '20-held check manual']);
  // The daemon ran them: its log has the hooks' results.
  await daemon.waitForLine(/hook 20-held check \(manual\): ok/);
  // Another hooks directory than the daemon's is refused, with the fix.
  const other = await hvvssRun(['check', '--hooks-dir', join(fx.root, 'elsewhere'), '--state-dir', stateDir(fx), '--socket', socket(fx), ...LIMITS]);
  assert.equal(other.code, 1, other.output);
  assert.match(other.output, /the daemon runs the hooks in .*, not .*elsewhere: run with --hooks-dir/);
});

test('a manual freeze held by the daemon: the host is kept out, hvvss thaw ends it, the host works again', async () => {
  const fx = fixture();
  const daemon = await startDaemon(fx);
  const freeze = await hvvssRun(['freeze', ...manual(fx, '--max-frozen', '30', '--json')]);
  assert.equal(freeze.code, 0, freeze.output);
  assert.equal(JSON.parse(freeze.stdout).frozen.pid, daemon.child.pid, 'held by the daemon, not a keeper');
  assert.equal(journal(fx).frozen, true);
  assert.equal(journal(fx).holder?.kind, 'daemon');
  assert.equal((await emu.host.request('check')).result, 'fail');
  assert.equal((await emu.host.request('freeze')).result, 'fail');
  // A stray host THAW leaves the manual freeze alone.
  assert.equal((await emu.host.request('thaw')).result, 'success');
  assert.equal(journal(fx).frozen, true);
  const thaw = await hvvssRun(['thaw', ...manual(fx)]);
  assert.equal(thaw.code, 0, thaw.output);
  assert.deepEqual(fx.log(), ['10-a freeze manual', '20-held freeze manual', '20-held released', '20-held thaw manual', '10-a thaw manual']);
  assert.equal(journal(fx).frozen, false);
  assert.equal((await emu.host.request('check')).result, 'success');
});

test('a manual freeze held by the daemon is thawed by its watchdog (--max-frozen)', async () => {
  const fx = fixture();
  const daemon = await startDaemon(fx);
  const freeze = await hvvssRun(['freeze', ...manual(fx, '--max-frozen', '0.5')]);
  assert.equal(freeze.code, 0, freeze.output);
  await daemon.waitForLine(/thaw \(watchdog, msgid -\): success/);
  assert.deepEqual(fx.log().slice(-2), ['20-held thaw watchdog', '10-a thaw watchdog']);
  assert.equal((await emu.host.request('check')).result, 'success');
});

test('freeze -- COMMAND through the daemon: thawed after the command; a killed command line is thawed for', async () => {
  const fx = fixture();
  await startDaemon(fx);
  const run = await hvvssRun(['freeze', ...manual(fx), '--', 'sh', '-c', 'exit 3']);
  assert.equal(run.code, 3, run.output);
  assert.deepEqual(fx.log(), ['10-a freeze manual', '20-held freeze manual', '20-held released', '20-held thaw manual', '10-a thaw manual']);

  // The command line dies (SIGKILL) while its command runs: the daemon sees the connection go and thaws.
  // The command's output goes nowhere: when it started before the kill, it outlives the command
  // line and would otherwise hold the test's pipes (and the cleanup's wait for them) for 30 s.
  // The command says it runs (in the hooks' log) so the kill comes once the freeze is complete:
  // a kill during the freeze hooks is a rollback (HVVSS_REASON=rollback), another test's case.
  const cli = hvvss(['freeze', ...manual(fx), '--', 'sh', '-c', `echo 'command running' >> '${fx.logFile}'; exec sleep 30 </dev/null >/dev/null 2>&1`]);
  defer(async () => void (await cli.stop('SIGKILL')));
  await waitForFile(fx.logFile, (lines) => lines.includes('command running'));
  cli.child.kill('SIGKILL');
  await waitForFile(fx.logFile, (lines) => lines.filter((l) => l === '10-a thaw manual').length === 2);
  await journalClear(fx);
});

test('SIGTERM to the daemon while it holds a manual freeze: thawed before it exits', async () => {
  const fx = fixture();
  const daemon = await startDaemon(fx);
  assert.equal((await hvvssRun(['freeze', ...manual(fx, '--max-frozen', '30')])).code, 0);
  daemon.child.kill('SIGTERM');
  assert.equal((await daemon.exited).code, 0, daemon.output);
  assert.deepEqual(fx.log().slice(-2), ['20-held thaw shutdown', '10-a thaw shutdown']);
  assert.equal(journal(fx).frozen, false);
});
