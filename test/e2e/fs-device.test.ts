// One process, two channels: hvvss daemon --fs-role registers on hv_fsvss_dev too (the
// emulator's fs stand-in is off) and answers the fs device's CHECK, FREEZE and THAW itself, on
// loop-mounted ext4 file systems this test made (--fs-include names them: nothing else is ever
// frozen). The kernel sends the app FREEZE (hooks) before the fs FREEZE (mounts), and the fs THAW
// (mounts) before the app THAW (hooks).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { emulatorPerFile } from '../support/emulator.ts';
import { hvvssRun, within, flat, type WatchedProcess } from '../support/process.ts';
import { RECORD } from '../support/hooks-dir.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { includeBoth, twoMounts, type TwoMounts as Setup } from '../support/two-mounts.ts';
import { thawLoop } from '../support/loop-fs.ts';
import { BOTH_CHANNELS, daemonCommandLine, type DaemonStart, KERNEL_TIMEOUT_S, runPaths, SHORT_LIMITS, spawnDaemon } from '../support/daemon-fixture.ts';
import { blocked, writer } from '../fs/writer.ts';

const defer = cleanupsPerTest();
const emu = emulatorPerFile({ timeoutMs: KERNEL_TIMEOUT_S * 1000, fsDaemon: 'none' });

/** Two loop mounts, 10-db records; the journal on A unless `stateOnMount` is false. */
function setup(t: TestContext, hooks: Record<string, string> = {}, stateOnMount = true): Setup | undefined {
  return twoMounts(t, defer, { hooks: () => ({ '10-db': RECORD, ...hooks }), stateOnMount });
}

/** Registered on both devices, the fs role on the two loop mounts. */
function daemonOf(s: Setup, extra: readonly string[] = []): DaemonStart {
  return {
    device: emu.appDevice, fsDevice: emu.fsDevice, hooksDir: s.fx.dir, root: s.fx.root, stateDir: s.stateDir,
    defaults: SHORT_LIMITS,
    flags: ['--fs-role', ...includeBoth(s)],
    extra, thaw: [s.a.mountpoint, s.b.mountpoint], registered: BOTH_CHANNELS,
  };
}

const daemonArgs = (s: Setup, extra: readonly string[] = []): string[] => daemonCommandLine(daemonOf(s, extra));
const startDaemon = (s: Setup, extra: readonly string[] = []): Promise<WatchedProcess> => spawnDaemon(defer, daemonOf(s, extra));

function statusOf(s: Setup): Promise<{ stdout: string }> {
  return hvvssRun(['status', '--json', ...runPaths(s.fx.root, s.stateDir)]);
}

test('the host CHECK, FREEZE, THAW go through both devices: hooks then mounts frozen, writers block until the THAW, mounts then hooks thawed', async (t) => {
  const s = setup(t);
  if (!s) return;
  const daemon = await startDaemon(s);
  const check = await emu.host.request('check');
  assert.equal(check.result, 'success', `${JSON.stringify(check)}\n${daemon.output}`);
  await daemon.waitForLine(/fs device: answered success to check/);
  const freeze = await emu.host.request('freeze');
  assert.equal(freeze.result, 'success', `${JSON.stringify(freeze)}\n${daemon.output}`);
  const wa = writer(s.a.mountpoint);
  const wb = writer(s.b.mountpoint);
  await blocked(wa);
  await blocked(wb);
  const report = JSON.parse((await statusOf(s)).stdout) as { daemon: { snapshot: { devices: { role: string; path: string }[]; frozen: { mounts: string[] } } } };
  assert.deepEqual(report.daemon.snapshot.devices, [{ role: 'application', path: emu.appDevice }, { role: 'fs', path: emu.fsDevice }]);
  assert.deepEqual(report.daemon.snapshot.frozen.mounts, [s.b.mountpoint, s.a.mountpoint]);
  const text = await hvvssRun(['status', ...runPaths(s.fx.root, s.stateDir)]);
  assert.match(flat(text.stdout), new RegExp(`registered on ${emu.appDevice} and ${emu.fsDevice} \\(fs role\\)`));
  const thaw = await emu.host.request('thaw');
  assert.equal(thaw.result, 'success', `${JSON.stringify(thaw)}\n${daemon.output}`);
  assert.equal((await within(wa.exited, 10_000, 'the writer on A after the thaw')).code, 0);
  assert.equal((await within(wb.exited, 10_000, 'the writer on B after the thaw')).code, 0);
  assert.deepEqual(s.fx.log(), ['10-db check host', '10-db freeze host', '10-db thaw host']);
  // The app device's answer (not the fs device's, which comes first).
  await daemon.waitForLine(/info\s+answered success to thaw/);
  // Order across the two channels: hooks frozen (app FREEZE answered), then the mounts (fs FREEZE);
  // mounts thawed (fs THAW answered), then the hooks (app THAW).
  assert.match(
    daemon.output,
    new RegExp(
      `answered success to freeze[^]*froze ${s.b.mountpoint} \\(ext4\\)[^]*froze ${s.a.mountpoint} \\(ext4\\)[^]*fs device: answered success to freeze` +
        `[^]*thawed ${s.a.mountpoint}[^]*thawed ${s.b.mountpoint}[^]*fs device: answered success to thaw[^]*answered success to thaw`,
    ),
  );
  assert.equal(JSON.parse(readFileSync(join(s.stateDir, 'frozen.json'), 'utf8')).frozen, false);
});

test('the fs FREEZE fails (the second mount is already frozen): answered failure, the first mount and the hooks are rolled back', async (t) => {
  // The state directory elsewhere: A is frozen by the test before the freeze starts.
  const s = setup(t, {}, false);
  if (!s) return;
  const daemon = await startDaemon(s);
  // B freezes first, A second: A is already frozen (EBUSY).
  execFileSync('fsfreeze', ['-f', s.a.mountpoint]);
  defer(() => thawLoop(s.a.mountpoint));
  const freeze = await emu.host.request('freeze');
  assert.equal(freeze.result, 'fail', JSON.stringify(freeze));
  await daemon.waitForLine(/fs FREEZE \(msgid \d+\) the file systems could not be frozen/);
  const w = writer(s.b.mountpoint);
  assert.equal((await within(w.exited, 10_000, 'the writer on B after the rollback')).code, 0);
  await daemon.waitForLine(/thaw \(rollback, msgid \d+\): success/);
  assert.deepEqual(s.fx.log(), ['10-db freeze host', '10-db thaw rollback']);
  thawLoop(s.a.mountpoint);
  // And the next backup works.
  assert.equal((await emu.host.request('freeze')).result, 'success', daemon.output);
  assert.equal((await emu.host.request('thaw')).result, 'success', daemon.output);
});

test('SIGKILL between the app FREEZE and the fs FREEZE, then a restart: the hooks are thawed, nothing is left frozen', async (t) => {
  // The last freeze hook kills the daemon: the hooks are frozen, the intent names the mounts, none is frozen yet.
  const s = setup(t, { '20-kill': `${RECORD}\n[ "$1" = freeze ] && kill -9 "$PPID"\nexit 0` });
  if (!s) return;
  const first = await startDaemon(s);
  const freeze = await emu.host.request('freeze');
  assert.equal(freeze.result, 'fail', JSON.stringify(freeze));
  await within(first.exited, 10_000, 'the daemon killed by its hook');
  const journal = JSON.parse(readFileSync(join(s.stateDir, 'frozen.json'), 'utf8')) as { frozen: boolean; mounts: { mountpoint: string }[] };
  assert.equal(journal.frozen, true);
  assert.deepEqual(journal.mounts.map((m) => m.mountpoint), [s.b.mountpoint, s.a.mountpoint]);
  const second = await startDaemon(s);
  assert.deepEqual(s.fx.log().slice(-2), ['20-kill thaw recovery', '10-db thaw recovery']);
  for (const m of [s.a, s.b]) assert.equal((await within(writer(m.mountpoint).exited, 10_000, `a writer on ${m.mountpoint}`)).code, 0);
  assert.equal(JSON.parse(readFileSync(join(s.stateDir, 'frozen.json'), 'utf8')).frozen, false);
  assert.equal((await emu.host.request('check')).result, 'success', second.output);
});

test('SIGKILL after the fs FREEZE, then a restart: recovery thaws the mounts, then the hooks', async (t) => {
  const s = setup(t);
  if (!s) return;
  const first = await startDaemon(s);
  assert.equal((await emu.host.request('freeze')).result, 'success', first.output);
  const w = writer(s.a.mountpoint);
  await blocked(w);
  await first.stop('SIGKILL');
  const second = await startDaemon(s);
  assert.equal((await within(w.exited, 10_000, 'the writer after recovery')).code, 0);
  assert.deepEqual(s.fx.log().slice(-1), ['10-db thaw recovery']);
  assert.match(second.output, new RegExp(`thawed ${s.b.mountpoint} \\(ext4\\) \\(recovery\\)`));
  assert.equal(JSON.parse(readFileSync(join(s.stateDir, 'frozen.json'), 'utf8')).frozen, false);
});

test('SIGTERM while frozen through both channels: mounts then hooks thawed, exit 0', async (t) => {
  const s = setup(t);
  if (!s) return;
  const daemon = await startDaemon(s);
  assert.equal((await emu.host.request('freeze')).result, 'success', daemon.output);
  const w = writer(s.b.mountpoint);
  await blocked(w);
  assert.equal((await daemon.stop('SIGTERM')).code, 0, daemon.output);
  assert.equal((await within(w.exited, 10_000, 'the writer after SIGTERM')).code, 0);
  assert.deepEqual(s.fx.log().slice(-1), ['10-db thaw shutdown']);
});

test('no THAW after both FREEZEs: the watchdog thaws the mounts, then the hooks', async (t) => {
  const s = setup(t);
  if (!s) return;
  const daemon = await startDaemon(s, ['--max-frozen', '1']);
  assert.equal((await emu.host.request('freeze')).result, 'success', daemon.output);
  const w = writer(s.b.mountpoint);
  assert.equal((await within(w.exited, 10_000, 'the writer after the watchdog thaw')).code, 0);
  await daemon.waitForLine(/thaw \(watchdog, msgid \d+\): success/);
  assert.match(daemon.output, new RegExp(`thawed ${s.a.mountpoint} \\(ext4\\)[^]*thawed ${s.b.mountpoint} \\(ext4\\)[^]*thaw \\(watchdog`));
  assert.deepEqual(s.fx.log().slice(-1), ['10-db thaw watchdog']);
  // The host's late THAW finds nothing frozen on either device.
  assert.equal((await emu.host.request('thaw')).result, 'success', daemon.output);
});

test('the fs device is busy (hv_vss_daemon has it): the daemon does not start, and says how to stop hv_vss_daemon for good', async (t) => {
  const s = setup(t);
  if (!s) return;
  await emu.host.fsDaemon('success');
  defer(() => emu.host.fsDaemon('stop'));
  const run = await hvvssRun(daemonArgs(s));
  assert.notEqual(run.code, 0);
  const text = flat(run.output);
  assert.match(text, /is busy: the fs daemon hv_vss_daemon/);
  assert.match(text, /\/etc\/devd\/hyperv\.conf/);
  assert.match(text, /service devd restart/);
  assert.match(text, /hvvss_fs_enable/);
  // Nothing registered: the app device is free for the next start.
  await emu.host.fsDaemon('stop');
  await startDaemon(s);
});
