// Faults of the fs role on its own channel (hvvss daemon --fs-role registered on hv_fsvss_dev
// too) that fs-device.test.ts and fs-role.test.ts do not cover: the fs device lost while the
// mounts are frozen (the emulator unmounted; the driver detached, which SIGKILLs the daemon as
// hv_vss_detach does), the kernel's timer firing while the fs stage runs, the watchdog's order
// with a thaw hook that writes to a frozen mount, and a CHECK refused by the fs device. Each uses
// loop-mounted ext4 file systems this test made (--fs-include names them: nothing else is ever
// frozen), and each ends with a writer on the file systems that completes.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator, type RunningEmulator } from '../../src/emulator/host-client.ts';
import { emulatorPerFile } from '../support/emulator.ts';
import { hvvssRun, within, flat, type WatchedProcess } from '../support/process.ts';
import { RECORD, writesTo } from '../support/hooks-dir.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { includeBoth, twoMounts, type TwoMounts as Setup } from '../support/two-mounts.ts';
import { loopMount } from '../support/loop-fs.ts';
import { BOTH_CHANNELS, daemonCommandLine, type DaemonStart, KERNEL_TIMEOUT_S, runPaths, SHORT_LIMITS, spawnDaemon } from '../support/daemon-fixture.ts';
import { blocked, loopTools, writer } from '../fs/writer.ts';
import { buildHelper } from '../fs/helper-build.ts';
import type { TransactionRecord } from '../../src/daemon/transaction-history.ts';

const defer = cleanupsPerTest();
const shared = emulatorPerFile({ timeoutMs: KERNEL_TIMEOUT_S * 1000, fsDaemon: 'none' });

/** An emulator of the test's own, for the faults that destroy it. */
async function ownEmulator(): Promise<RunningEmulator> {
  const emu = await startEmulator({ timeoutMs: KERNEL_TIMEOUT_S * 1000, fsDaemon: 'none' });
  defer(() => emu.stop());
  return emu;
}

/** Two loop mounts, the journal on the first; 10-db records, 20-write writes to A at freeze and at thaw. */
function setup(t: TestContext, hooks: Record<string, string> = {}): Setup | undefined {
  return twoMounts(t, defer, { hooks: (a) => ({ '10-db': RECORD, '20-write': writesTo(a.mountpoint), ...hooks }), stateOnMount: true });
}

interface DaemonOptions {
  readonly emu?: RunningEmulator;
  readonly extra?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

/** Registered on both devices (of the shared emulator unless the test has its own), the fs role on the two loop mounts. */
function daemonOf(s: Setup, options: DaemonOptions = {}): DaemonStart {
  const emu = options.emu ?? shared;
  return {
    device: emu.appDevice, fsDevice: emu.fsDevice, hooksDir: s.fx.dir, root: s.fx.root, stateDir: s.stateDir,
    defaults: SHORT_LIMITS,
    flags: ['--fs-role', ...includeBoth(s)],
    extra: options.extra, env: options.env, thaw: [s.a.mountpoint, s.b.mountpoint], registered: BOTH_CHANNELS,
  };
}

const daemonArgs = (s: Setup, options: DaemonOptions = {}): string[] => daemonCommandLine(daemonOf(s, options));
const startDaemon = (s: Setup, options: DaemonOptions = {}): Promise<WatchedProcess> => spawnDaemon(defer, daemonOf(s, options));

async function transactions(s: Setup): Promise<TransactionRecord[]> {
  const run = await hvvssRun(['status', '--json', ...runPaths(s.fx.root, s.stateDir)]);
  return (JSON.parse(run.stdout) as { transactions: TransactionRecord[] }).transactions;
}

const mountsOf = (t: TransactionRecord | undefined) => (t?.mounts ?? []).map((m) => `${m.op} ${m.mountpoint} ${m.fstype} ${m.action} ${m.ok ? 'ok' : 'FAILED'}`);

async function writersComplete(s: Setup, what: string): Promise<void> {
  for (const m of [s.a, s.b]) assert.equal((await within(writer(m.mountpoint, 'after').exited, 10_000, `a writer on ${m.mountpoint} ${what}`)).code, 0);
}

/** Setup, an emulator of the test's own, the daemon on it, and a host FREEZE it answered success. */
async function frozenOnOwnEmulator(t: TestContext, extra: readonly string[] = []): Promise<{ s: Setup; emu: RunningEmulator; daemon: WatchedProcess } | undefined> {
  const s = setup(t);
  if (!s) return undefined;
  const emu = await ownEmulator();
  const daemon = await startDaemon(s, { emu, extra });
  assert.equal((await emu.host.request('freeze')).result, 'success', daemon.output);
  return { s, emu, daemon };
}

function journalFrozen(s: Setup): boolean {
  return (JSON.parse(readFileSync(join(s.stateDir, 'frozen.json'), 'utf8')) as { frozen: boolean }).frozen;
}

test('the devices go away (emulator unmounted) while the mounts are frozen: the daemon thaws the mounts, then the hooks, and exits', async (t) => {
  const frozen = await frozenOnOwnEmulator(t);
  if (!frozen) return;
  const { s, emu, daemon } = frozen;
  const w = writer(s.b.mountpoint);
  await blocked(w);
  await emu.stop();
  const exit = await within(daemon.exited, 15_000, 'the daemon to exit once its devices are gone');
  assert.notEqual(exit.code, null, `the daemon was killed instead of exiting:\n${daemon.output}`);
  assert.equal((await within(w.exited, 10_000, 'the blocked writer')).code, 0);
  await writersComplete(s, 'after the daemon exited');
  assert.deepEqual(s.fx.log().slice(-2), ['20-write thaw shutdown', '10-db thaw shutdown'], daemon.output);
  // The thaw hook wrote to A: A was thawed before the thaw hooks ran.
  assert.equal(readFileSync(join(s.a.mountpoint, 'hook-thaw'), 'utf8'), 'thaw\n');
  assert.equal(journalFrozen(s), false);
});

test('the driver detaches while the mounts are frozen (SIGKILL to the daemon, as hv_vss_detach does): the restart thaws mounts then hooks before it finds the devices gone', async (t) => {
  const frozen = await frozenOnOwnEmulator(t);
  if (!frozen) return;
  const { s, emu, daemon } = frozen;
  const detach = await emu.host.detach();
  assert.ok(detach.killed.some((k) => k.pid === daemon.child.pid), JSON.stringify(detach));
  assert.equal((await within(daemon.exited, 10_000, 'the daemon killed by the detach')).signal, 'SIGKILL');
  // FIFREEZE outlives its holder: still frozen, and the journal names the mounts.
  const w = writer(s.a.mountpoint);
  await blocked(w);
  assert.equal(journalFrozen(s), true);
  // What rc.d's daemon(8) does: start it again. It thaws before it registers, then cannot register.
  const restart = await hvvssRun(daemonArgs(s, { emu }));
  assert.notEqual(restart.code, 0, restart.output);
  assert.match(flat(restart.output), new RegExp(`${emu.fsDevice} does not exist: the hv_vss\\(4\\) driver is not present`));
  assert.equal((await within(w.exited, 10_000, 'the blocked writer after the restart')).code, 0);
  await writersComplete(s, 'after the restart');
  assert.deepEqual(s.fx.log().slice(-2), ['20-write thaw recovery', '10-db thaw recovery']);
  assert.equal(readFileSync(join(s.a.mountpoint, 'hook-thaw'), 'utf8'), 'thaw\n');
  assert.match(restart.output, new RegExp(`thawed ${s.a.mountpoint} \\(ext4\\) \\(recovery\\)[^]*thawed ${s.b.mountpoint} \\(ext4\\) \\(recovery\\)`));
  assert.equal(journalFrozen(s), false);
});

test('the driver detaches while --fs-helper holds the mounts: the helper sees the daemon die and thaws them at once', async (t) => {
  const helper = buildHelper(t);
  if (!helper) return;
  const frozen = await frozenOnOwnEmulator(t, ['--fs-helper', helper]);
  if (!frozen) return;
  const { s, emu, daemon } = frozen;
  const w = writer(s.b.mountpoint);
  await blocked(w);
  await emu.host.detach();
  assert.equal((await within(daemon.exited, 10_000, 'the daemon killed by the detach')).signal, 'SIGKILL');
  // No restart: the helper's stdin closed with the daemon.
  assert.equal((await within(w.exited, 10_000, 'the writer once the helper saw the daemon die')).code, 0);
  await writersComplete(s, 'after the detach');
  // The hooks are the journal's to thaw at the next start.
  assert.equal(journalFrozen(s), true);
  await hvvssRun(daemonArgs(s, { emu, extra: ['--fs-helper', helper] }));
  assert.deepEqual(s.fx.log().slice(-2), ['20-write thaw recovery', '10-db thaw recovery']);
  assert.equal(journalFrozen(s), false);
});

test('the kernel\'s timer fires while the fs stage runs (a flush that cannot be cut short): the fs FREEZE fails, mounts then hooks are thawed at once', async (t) => {
  if (!loopTools(t)) return;
  // A third mount flushed with sync -f (--fs-sync) by a `sync` that ignores SIGTERM and takes
  // 1.8 s, as a sync stuck on a slow disk would; the freeze hook takes 1.3 s of the kernel's 3 s.
  const c = loopMount('ext4');
  defer(() => c.cleanup());
  const s = setup(t, { '05-slow': `${RECORD}\n[ "$1" = freeze ] && sleep 1.3\nexit 0` });
  if (!s) return;
  const bin = mkdtempSync(join(tmpdir(), 'hvvss-slow-sync-'));
  defer(() => rmSync(bin, { recursive: true, force: true }));
  chmodSync(bin, 0o755);
  writeFileSync(join(bin, 'sync'), "#!/bin/sh\ntrap '' TERM\nsleep 1.8\nexec /usr/bin/env PATH=/usr/bin:/bin sync \"$@\"\n");
  chmodSync(join(bin, 'sync'), 0o755);
  const daemon = await startDaemon(s, {
    extra: ['--hook-timeout', '1.8', '--fs-include', c.mountpoint, '--fs-sync', c.mountpoint, '--max-frozen', '60'],
    env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` },
  });
  const freeze = await shared.host.request('freeze');
  // Not the watchdog (60 s): the fs stage saw it was past the transaction's deadline and rolled back.
  await daemon.waitForLine(/thaw \(rollback, msgid \d+\): success/);
  assert.equal(freeze.result, 'fail', JSON.stringify(freeze));
  assert.equal(freeze.reason, 'timeout', `${JSON.stringify(freeze)}\n${daemon.output}`);
  assert.equal(freeze.timedOutIn, 'fs', JSON.stringify(freeze));
  await writersComplete(s, 'after the timed-out fs FREEZE');
  assert.deepEqual(s.fx.log().slice(-3), ['20-write thaw rollback', '10-db thaw rollback', '05-slow thaw rollback']);
  assert.equal(readFileSync(join(s.a.mountpoint, 'hook-thaw'), 'utf8'), 'thaw\n');
  assert.match(daemon.output, /fs FREEZE \(msgid \d+\) the file systems froze \d+ ms past the request's deadline/);
  const [rollback, fsFreeze] = await transactions(s);
  assert.equal(rollback?.reason, 'rollback');
  assert.deepEqual(mountsOf(rollback), [`thaw ${s.a.mountpoint} ext4 fifreeze ok`, `thaw ${s.b.mountpoint} ext4 fifreeze ok`]);
  assert.equal(`${fsFreeze?.device} ${fsFreeze?.op} ${fsFreeze?.result}`, 'fs freeze fail');
  assert.deepEqual(mountsOf(fsFreeze), [`freeze ${c.mountpoint} ext4 sync ok`, `freeze ${s.b.mountpoint} ext4 fifreeze ok`, `freeze ${s.a.mountpoint} ext4 fifreeze ok`]);
});

test('no THAW on the fs channel: the watchdog thaws the mounts before the thaw hooks (one writes to a mount), and status records each mount', async (t) => {
  const s = setup(t);
  if (!s) return;
  const daemon = await startDaemon(s, { extra: ['--max-frozen', '1'] });
  assert.equal((await shared.host.request('freeze')).result, 'success', daemon.output);
  await daemon.waitForLine(/thaw \(watchdog, msgid \d+\): success/);
  await writersComplete(s, 'after the watchdog thaw');
  assert.deepEqual(s.fx.log().slice(-2), ['20-write thaw watchdog', '10-db thaw watchdog']);
  assert.equal(readFileSync(join(s.a.mountpoint, 'hook-thaw'), 'utf8'), 'thaw\n');
  const [watchdog, fsFreeze, appFreeze] = await transactions(s);
  assert.equal(`${watchdog?.op} ${watchdog?.reason} ${watchdog?.result}`, 'thaw watchdog success');
  assert.deepEqual(mountsOf(watchdog), [`thaw ${s.a.mountpoint} ext4 fifreeze ok`, `thaw ${s.b.mountpoint} ext4 fifreeze ok`]);
  assert.deepEqual(mountsOf(fsFreeze), [`freeze ${s.b.mountpoint} ext4 fifreeze ok`, `freeze ${s.a.mountpoint} ext4 fifreeze ok`]);
  assert.equal(fsFreeze?.device, 'fs');
  assert.equal(appFreeze?.device, undefined);
  assert.deepEqual(appFreeze?.hooks.map((h) => h.hook), ['10-db', '20-write']);
  // The host's late THAW finds nothing frozen on either device.
  assert.equal((await shared.host.request('thaw')).result, 'success', daemon.output);
});

test('a mount the fs role refuses fails CHECK on the fs device (the application CHECK succeeds), naming the mount and the fix', async (t) => {
  const s = setup(t);
  if (!s) return;
  const daemon = await startDaemon(s, { extra: ['--fs-include', shared.mountpoint] });
  const check = await shared.host.request('check');
  assert.equal(check.result, 'fail', JSON.stringify(check));
  assert.equal(check.reason, 'fs-failed', JSON.stringify(check));
  assert.equal(check.stages.find((x) => x.side === 'app')?.status, 'success', JSON.stringify(check));
  await daemon.waitForLine(new RegExp(`fs CHECK \\(msgid \\d+\\) cannot be consistent: .*${shared.mountpoint} \\(fuse[^)]*\\): .* --fs-sync ${shared.mountpoint} .* --fs-skip ${shared.mountpoint}`));
  assert.deepEqual(s.fx.log(), ['10-db check host', '20-write check host']);
  const [fsCheck, appCheck] = await transactions(s);
  assert.equal(`${fsCheck?.device} ${fsCheck?.op} ${fsCheck?.result}`, 'fs check fail');
  assert.match(fsCheck?.problems[0] ?? '', new RegExp(`${shared.mountpoint} \\(fuse`));
  assert.equal(`${appCheck?.op} ${appCheck?.result}`, 'check success');
  // A FREEZE the host sends anyway is refused before anything is frozen.
  assert.equal((await shared.host.request('freeze')).result, 'fail');
  assert.deepEqual(s.fx.log(), ['10-db check host', '20-write check host']);
  await writersComplete(s, 'after the refused FREEZE');
});
