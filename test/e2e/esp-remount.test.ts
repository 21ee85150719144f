// hvvss daemon --fs-role with a file system held by remounting it read-only (the ESP's case),
// against the emulator, on loop mounts this test made (--fs-include names them: nothing else
// is touched). This machine's kernel may lack vfat, so the mount is an ext2 that the policy file
// says to remount (the same mount(2) call as for the ESP; test/fs/remount-real.test.ts runs
// vfat itself where the kernel has it). Whatever ends the freeze (THAW, the watchdog, SIGTERM,
// SIGKILL and a restart), the mount is read-write afterwards; a mount that was read-only before
// the freeze stays read-only; a file open for writing fails the FREEZE, naming the mount.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { emulatorPerFile } from '../support/emulator.ts';
import { hvvssRun, type WatchedProcess } from '../support/process.ts';
import { hooksForTest, RECORD, type HooksFixture } from '../support/hooks-dir.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { loopMount, type LoopMount } from '../support/loop-fs.ts';
import { readOnly, writeError } from '../support/mount-state.ts';
import { KERNEL_TIMEOUT_S, runPaths, SHORT_LIMITS, spawnDaemon } from '../support/daemon-fixture.ts';
import { waitForFile } from '../support/watch-file.ts';
import { loopTools } from '../fs/writer.ts';

const defer = cleanupsPerTest();
const emu = emulatorPerFile({ timeoutMs: KERNEL_TIMEOUT_S * 1000 });

interface Setup {
  readonly fx: HooksFixture;
  /** Remounted by the policy file. */
  readonly esp: LoopMount;
  /** Read-only before any freeze: never made read-write. */
  readonly ro: LoopMount;
  readonly policy: string;
}

function setup(t: TestContext): Setup | undefined {
  if (!loopTools(t, ['mkfs.ext2', 'losetup'])) return undefined;
  const fx = hooksForTest(defer, { '10-db': RECORD });
  const esp = loopMount('ext2');
  const ro = loopMount('ext2');
  execFileSync('mount', ['-o', 'remount,ro', ro.mountpoint]);
  // Teardown: read-write again before the unmount, whatever the test left.
  defer(() => {
    for (const m of [esp, ro]) {
      if (readOnly(m.mountpoint)) execFileSync('mount', ['-o', 'remount,rw', m.mountpoint]);
      m.cleanup();
    }
  });
  const policy = join(fx.root, 'fs-policy');
  writeFileSync(policy, `# both remounted read-only for a freeze\n${esp.mountpoint} remount-ro\n${ro.mountpoint} remount-ro\n`);
  chmodSync(policy, 0o644);
  return { fx, esp, ro, policy };
}

const paths = (s: Setup) => runPaths(s.fx.root);

/** Nothing here is frozen (remounted read-only at most): teardown only kills the daemon. */
function startDaemon(s: Setup, extra: readonly string[] = [], fsRole = true): Promise<WatchedProcess> {
  return spawnDaemon(defer, {
    device: emu.appDevice, hooksDir: s.fx.dir, root: s.fx.root,
    defaults: SHORT_LIMITS,
    flags: fsRole ? ['--fs-role', '--fs-device', 'none', '--fs-policy', s.policy, '--fs-include', s.esp.mountpoint, '--fs-include', s.ro.mountpoint] : [],
    extra,
  });
}

/** FREEZE answered success: the mount is read-only (a write gets EROFS), the other one untouched. */
async function freeze(s: Setup, daemon: WatchedProcess): Promise<void> {
  assert.equal((await emu.host.request('check')).result, 'success', daemon.output);
  assert.equal((await emu.host.request('freeze')).result, 'success', daemon.output);
  assert.equal(readOnly(s.esp.mountpoint), true);
  assert.equal(writeError(s.esp.mountpoint), 'EROFS');
}

function assertAfter(s: Setup): void {
  assert.equal(readOnly(s.esp.mountpoint), false);
  assert.equal(writeError(s.esp.mountpoint), undefined);
  assert.equal(readOnly(s.ro.mountpoint), true, 'read-only before the freeze: still read-only');
}

test('CHECK, FREEZE, THAW: read-only for the freeze, read-write after; the mount read-only before stays so; status and the dry run name the policy line', async (t) => {
  const s = setup(t);
  if (!s) return;
  const daemon = await startDaemon(s);
  await freeze(s, daemon);
  type PlanReport = { fs: { plan: { policyFile: string; mounts: Array<{ mountpoint: string; action: string; origin: string }> } } };
  const frozen = JSON.parse((await hvvssRun(['status', '--json', ...paths(s)])).stdout) as PlanReport & { freeze: { mounts: string[] } };
  assert.deepEqual(frozen.freeze.mounts, [s.esp.mountpoint], 'the journal names only the mount hvvss remounted');
  assert.equal(readOnly(s.esp.mountpoint), true);
  // Read-only now because of this freeze: the plan still shows what a backup does with it.
  assert.deepEqual(frozen.fs.plan.mounts.filter((m) => m.mountpoint === s.esp.mountpoint).map((m) => m.action), ['remount-ro']);
  assert.equal((await emu.host.request('thaw')).result, 'success', daemon.output);
  assertAfter(s);
  // The plan is the live table's: read-write again, the daemon's policy line chose its action.
  const report = JSON.parse((await hvvssRun(['status', '--json', ...paths(s)])).stdout) as PlanReport;
  assert.equal(report.fs.plan.policyFile, s.policy);
  assert.deepEqual(report.fs.plan.mounts.filter((m) => m.mountpoint === s.esp.mountpoint).map((m) => [m.action, m.origin]), [['remount-ro', `${s.policy}:2`]]);
  assert.deepEqual(s.fx.log(), ['10-db check host', '10-db freeze host', '10-db thaw host']);
  const dry = await hvvssRun(['check', '--dry-run', '--hooks-dir', s.fx.dir, '--state-dir', join(s.fx.root, 'dry-state'), '--socket', join(s.fx.root, 'nosock'),
    '--fs-policy', s.policy, '--fs-include', s.esp.mountpoint, '--fs-include', s.ro.mountpoint]);
  assert.equal(dry.code, 0, dry.output);
  assert.match(dry.stdout, new RegExp(`fs policy file: ${s.policy}`));
  assert.match(dry.stdout, new RegExp(`${s.esp.mountpoint}\\s+ext2\\s+remount ro \\[${s.policy}:2\\]: remounted read-only for the freeze`));
});

test('SIGKILL while read-only, then a restart (without --fs-role): recovery remounts it read-write, and only it', async (t) => {
  const s = setup(t);
  if (!s) return;
  const first = await startDaemon(s);
  await freeze(s, first);
  await first.stop('SIGKILL');
  assert.equal(readOnly(s.esp.mountpoint), true, 'still read-only once the daemon is dead');
  const second = await startDaemon(s, [], false);
  assertAfter(s);
  assert.match(second.output, new RegExp(`remounted ${s.esp.mountpoint} \\(ext2\\) read-write \\(recovery\\)`));
  assert.deepEqual(s.fx.log().slice(-1), ['10-db thaw recovery']);
  assert.equal(JSON.parse(readFileSync(join(s.fx.root, 'state', 'frozen.json'), 'utf8')).frozen, false);
});

test('no THAW: the watchdog remounts it read-write, then thaws the hooks', async (t) => {
  const s = setup(t);
  if (!s) return;
  const daemon = await startDaemon(s, ['--max-frozen', '1']);
  await freeze(s, daemon);
  await waitForFile(s.fx.logFile, (lines) => lines.includes('10-db thaw watchdog'));
  assertAfter(s);
});

test('SIGTERM while read-only: read-write again, then exit 0', async (t) => {
  const s = setup(t);
  if (!s) return;
  const daemon = await startDaemon(s);
  await freeze(s, daemon);
  assert.equal((await daemon.stop('SIGTERM')).code, 0, daemon.output);
  assertAfter(s);
  assert.deepEqual(s.fx.log().slice(-1), ['10-db thaw shutdown']);
});

test('a file open for writing: FREEZE fails naming the mount, EBUSY and the fixes; the hooks are rolled back; nothing stays read-only', async (t) => {
  const s = setup(t);
  if (!s) return;
  const fd = openSync(join(s.esp.mountpoint, 'open-for-writing'), 'w');
  defer(() => closeSync(fd));
  const daemon = await startDaemon(s);
  assert.equal((await emu.host.request('freeze')).result, 'fail');
  await waitForFile(s.fx.logFile, (lines) => lines.includes('10-db thaw rollback'));
  await daemon.waitForLine(new RegExp(`cannot remount ${s.esp.mountpoint} \\(ext2\\) read-only: a file on it is open for writing \\(EBUSY\\).*"${s.esp.mountpoint} sync-if-busy".*in ${s.policy}`));
  assertAfter(s);
});

test('a malformed or untrusted policy file: the daemon does not start, and says which line or what to fix', async (t) => {
  const s = setup(t);
  if (!s) return;
  writeFileSync(s.policy, `${s.esp.mountpoint} remount-ro\n${s.esp.mountpoint}\n/boot/efi freeze\n`);
  const bad = await hvvssRun(['daemon', '-n', '--device', emu.appDevice, '--hooks-dir', s.fx.dir, ...paths(s), '--fs-role', '--fs-device', 'none', '--fs-policy', s.policy]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, new RegExp(`fs policy ${s.policy}: line 2: expected "MOUNTPOINT ACTION".*line 3: unknown action "freeze"`));
  writeFileSync(s.policy, `${s.esp.mountpoint} remount-ro\n`);
  chmodSync(s.policy, 0o666);
  const untrusted = await hvvssRun(['daemon', '-n', '--device', emu.appDevice, '--hooks-dir', s.fx.dir, ...paths(s), '--fs-role', '--fs-device', 'none', '--fs-policy', s.policy]);
  assert.notEqual(untrusted.code, 0);
  assert.match(untrusted.stderr, new RegExp(`not trusted: world-writable \\(mode 0666\\); fix: chmod go-w ${s.policy}`));
});
