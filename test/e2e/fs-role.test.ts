// hvvss daemon --fs-role against the emulator, on loop-mounted ext4 file systems this test made
// (--fs-include names them: nothing else is ever frozen). The file systems freeze after the
// freeze hooks and thaw before the thaw hooks (a hook writes to one: it would block otherwise),
// and whatever ends the freeze (THAW, the watchdog, SIGTERM, SIGKILL and a restart, a second
// mount that cannot freeze), a writer on each file system completes afterwards.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { emulatorPerFile } from '../support/emulator.ts';
import { hvvssRun, within, type WatchedProcess } from '../support/process.ts';
import { RECORD, writesTo } from '../support/hooks-dir.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { includeBoth, twoMounts, type TwoMounts as Setup } from '../support/two-mounts.ts';
import { thawLoop } from '../support/loop-fs.ts';
import { KERNEL_TIMEOUT_S, runPaths, SHORT_LIMITS, spawnDaemon } from '../support/daemon-fixture.ts';
import { execFileSync } from 'node:child_process';
import { blocked, writer } from '../fs/writer.ts';
import { buildHelper } from '../fs/helper-build.ts';

const defer = cleanupsPerTest();
const emu = emulatorPerFile({ timeoutMs: KERNEL_TIMEOUT_S * 1000 });

/** Two loop mounts; a hook that writes to the first at freeze and at thaw (unless `quiet`). */
function setup(t: TestContext, options: { readonly stateOnMount?: boolean; readonly quiet?: boolean } = {}): Setup | undefined {
  return twoMounts(t, defer, { hooks: (a) => ({ '10-db': RECORD, ...(options.quiet ? {} : { '20-write': writesTo(a.mountpoint) }) }), stateOnMount: options.stateOnMount === true });
}

/** The daemon logs to a pipe: a log file on a frozen mount would block its reader, not the daemon. */
function startDaemon(s: Setup, extra: readonly string[] = [], fsRole = true): Promise<WatchedProcess> {
  return spawnDaemon(defer, {
    device: emu.appDevice, hooksDir: s.fx.dir, root: s.fx.root, stateDir: s.stateDir,
    defaults: SHORT_LIMITS,
    // The emulator's fs stand-in has the fs device: the mounts freeze inside the application FREEZE.
    flags: fsRole ? ['--fs-role', '--fs-device', 'none', ...includeBoth(s)] : [],
    extra, thaw: [s.a.mountpoint, s.b.mountpoint],
  });
}

test('CHECK, FREEZE, THAW: both file systems freeze after the hooks and thaw before them; writers block until the thaw', async (t) => {
  const s = setup(t, { stateOnMount: true });
  if (!s) return;
  const daemon = await startDaemon(s);
  assert.equal((await emu.host.request('check')).result, 'success');
  const freeze = await emu.host.request('freeze');
  assert.equal(freeze.result, 'success', `${JSON.stringify(freeze)}\n${daemon.output}`);
  const wa = writer(s.a.mountpoint);
  const wb = writer(s.b.mountpoint);
  await blocked(wa);
  await blocked(wb);
  // status answers while frozen (it writes nothing) and names the frozen file systems, children... in freeze order.
  const status = await hvvssRun(['status', '--json', ...runPaths(s.fx.root, s.stateDir)]);
  const report = JSON.parse(status.stdout) as { daemon: { snapshot: { frozen: { mounts: string[] } } }; freeze: { mounts: string[] }; fs: { fsRole: boolean } };
  assert.deepEqual(report.daemon.snapshot.frozen.mounts, [s.b.mountpoint, s.a.mountpoint]);
  assert.deepEqual(report.freeze.mounts, [s.b.mountpoint, s.a.mountpoint]);
  assert.equal(report.fs.fsRole, true);
  const thaw = await emu.host.request('thaw');
  assert.equal(thaw.result, 'success', `${JSON.stringify(thaw)}\n${daemon.output}`);
  assert.equal((await within(wa.exited, 10_000, 'the writer on A after the thaw')).code, 0);
  assert.equal((await within(wb.exited, 10_000, 'the writer on B after the thaw')).code, 0);
  assert.deepEqual(s.fx.log(), ['10-db check host', '20-write check host', '10-db freeze host', '20-write freeze host', '20-write thaw host', '10-db thaw host']);
  // The thaw hook wrote to A: it ran after A was thawed.
  assert.equal(readFileSync(join(s.a.mountpoint, 'hook-thaw'), 'utf8'), 'thaw\n');
  await daemon.waitForLine(/answered success to thaw/);
  assert.match(daemon.output, new RegExp(`froze ${s.b.mountpoint} \\(ext4\\) \\(FIFREEZE\\)[^]*froze ${s.a.mountpoint} \\(ext4\\)[^]*thawed ${s.a.mountpoint} \\(ext4\\)[^]*thawed ${s.b.mountpoint}`));
  assert.equal(JSON.parse(readFileSync(join(s.stateDir, 'frozen.json'), 'utf8')).frozen, false);
});

test('no THAW: the watchdog thaws the file systems, then the hooks', async (t) => {
  const s = setup(t, { stateOnMount: true });
  if (!s) return;
  const daemon = await startDaemon(s, ['--max-frozen', '1']);
  assert.equal((await emu.host.request('freeze')).result, 'success');
  const w = writer(s.b.mountpoint);
  assert.equal((await within(w.exited, 10_000, 'the writer after the watchdog thaw')).code, 0);
  await daemon.waitForLine(/thaw \(watchdog, msgid \d+\): success/);
  assert.deepEqual(s.fx.log().slice(-2), ['20-write thaw watchdog', '10-db thaw watchdog']);
});

test('SIGTERM while frozen: thawed, then exit 0', async (t) => {
  const s = setup(t);
  if (!s) return;
  const daemon = await startDaemon(s);
  assert.equal((await emu.host.request('freeze')).result, 'success');
  const w = writer(s.a.mountpoint);
  await blocked(w);
  assert.equal((await daemon.stop('SIGTERM')).code, 0, daemon.output);
  assert.equal((await within(w.exited, 10_000, 'the writer after SIGTERM')).code, 0);
  assert.deepEqual(s.fx.log().slice(-2), ['20-write thaw shutdown', '10-db thaw shutdown']);
});

test('SIGKILL while frozen, then a restart without --fs-role: recovery thaws the file systems the journal names, then the hooks', async (t) => {
  const s = setup(t, { stateOnMount: true });
  if (!s) return;
  const first = await startDaemon(s);
  assert.equal((await emu.host.request('freeze')).result, 'success');
  await first.stop('SIGKILL');
  const w = writer(s.a.mountpoint);
  await blocked(w);
  const second = await startDaemon(s, [], false);
  assert.equal((await within(w.exited, 10_000, 'the writer after recovery')).code, 0);
  assert.deepEqual(s.fx.log().slice(-2), ['20-write thaw recovery', '10-db thaw recovery']);
  assert.match(second.output, new RegExp(`thawed ${s.a.mountpoint} \\(ext4\\) \\(recovery\\)`));
  assert.match(second.output, new RegExp(`thawed ${s.b.mountpoint} \\(ext4\\) \\(recovery\\)`));
  assert.equal(JSON.parse(readFileSync(join(s.stateDir, 'frozen.json'), 'utf8')).frozen, false);
});

test('the second mount cannot freeze: the first is thawed at once, FREEZE fails, the hooks roll back', async (t) => {
  const s = setup(t, { quiet: true });
  if (!s) return;
  const daemon = await startDaemon(s);
  // B freezes first (children and later mounts first), A second: A is already frozen (EBUSY).
  execFileSync('fsfreeze', ['-f', s.a.mountpoint]);
  const freeze = await emu.host.request('freeze');
  assert.equal(freeze.result, 'fail', JSON.stringify(freeze));
  const w = writer(s.b.mountpoint);
  assert.equal((await within(w.exited, 10_000, 'the writer on B after the rollback')).code, 0);
  await daemon.waitForLine(new RegExp(`cannot freeze ${s.a.mountpoint} \\(ext4\\): FIFREEZE ${s.a.mountpoint}: EBUSY`));
  await daemon.waitForLine(/thaw \(rollback, msgid \d+\)/);
  assert.deepEqual(s.fx.log().slice(-1), ['10-db thaw rollback']);
  thawLoop(s.a.mountpoint);
});

test('a writable file system hvvss cannot freeze (the emulator\'s FUSE mount) fails CHECK, naming it and the fix; the dry run shows it', async (t) => {
  const s = setup(t, { quiet: true });
  if (!s) return;
  const daemon = await startDaemon(s, ['--fs-include', emu.mountpoint]);
  assert.equal((await emu.host.request('check')).result, 'fail');
  await daemon.waitForLine(new RegExp(`CHECK .*${emu.mountpoint} \\(fuse[^)]*\\): .* --fs-sync ${emu.mountpoint} .* --fs-skip ${emu.mountpoint}`));
  assert.deepEqual(s.fx.log(), [], 'no hook ran');
  const dry = await hvvssRun(['check', '--dry-run', '--hooks-dir', s.fx.dir, '--state-dir', join(s.fx.root, 'dry-state'), '--socket', join(s.fx.root, 'nosock'),
    '--fs-include', emu.mountpoint, '--fs-include', s.a.mountpoint]);
  assert.equal(dry.code, 0, dry.output);
  assert.match(dry.stdout, new RegExp(`${s.a.mountpoint}\\s+ext4\\s+FIFREEZE: ext4: frozen with FIFREEZE until the thaw`));
  assert.match(dry.stdout, new RegExp(`${emu.mountpoint}\\s+fuse\\S*\\s+REFUSE: `));
  assert.match(dry.stdout, /fs role plan: the fs role would refuse CHECK/);
});

test('--fs-helper: the helper holds the file systems; THAW thaws them through it, and after SIGKILL of the daemon it thaws by itself', async (t) => {
  const helper = buildHelper(t);
  if (!helper) return;
  const s = setup(t);
  if (!s) return;
  const daemon = await startDaemon(s, ['--fs-helper', helper]);
  assert.equal((await emu.host.request('check')).result, 'success');
  assert.equal((await emu.host.request('freeze')).result, 'success', daemon.output);
  const w1 = writer(s.a.mountpoint);
  await blocked(w1);
  assert.equal((await emu.host.request('thaw')).result, 'success', daemon.output);
  assert.equal((await within(w1.exited, 10_000, 'the writer after the thaw')).code, 0);
  // Held while frozen, written after the thaw.
  await daemon.waitForLine(new RegExp(`froze ${s.b.mountpoint} \\(ext4\\), ${s.a.mountpoint} \\(ext4\\) through ${helper}`));
  assert.deepEqual(s.fx.log().slice(-2), ['20-write thaw host', '10-db thaw host']);
  // Frozen again, then the daemon dies: the helper's stdin closes and it thaws on its own.
  assert.equal((await emu.host.request('freeze')).result, 'success', daemon.output);
  const w2 = writer(s.b.mountpoint);
  await blocked(w2);
  await daemon.stop('SIGKILL');
  assert.equal((await within(w2.exited, 10_000, 'the writer once the helper saw the daemon die')).code, 0);
});
