// hvvss daemon on the Linux protocol against the emulated /dev/vmbus/hv_vss, on loop-mounted
// ext4 and xfs file systems this test made (--fs-include names them: nothing else is ever
// frozen). HOT_BACKUP checks, FREEZE runs the freeze hooks then FIFREEZE (last), THAW runs
// FITHAW first then the thaw hooks; whatever ends a freeze (THAW, a failure, a refused late
// answer, the watchdog, SIGTERM, SIGKILL and a restart), a writer on each file system completes.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { startLinuxEmulator, type RunningLinuxEmulator } from '../../src/emulator/host-client.ts';
import { flat, hvvssRun, within, type WatchedProcess } from '../support/process.ts';
import { hooksForTest, RECORD, type HooksFixture } from '../support/hooks-dir.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { loopMountsForTest, thawLoop, type LoopMount } from '../support/loop-fs.ts';
import { runPaths, spawnDaemon } from '../support/daemon-fixture.ts';
import { blocked, writer, type Writer } from '../fs/writer.ts';

// Shortened kernel limits (Linux: FREEZE 900 s, HOT_BACKUP and THAW 30 s), so that a late
// answer can be provoked; the daemon's deadlines stay below them.
const LIMITS = { freezeMs: 6_000, otherMs: 4_000 };
const defer = cleanupsPerTest();
let emu: RunningLinuxEmulator;

before(async () => {
  emu = await startLinuxEmulator({ limits: LIMITS });
});
after(async () => {
  await emu?.stop();
});

interface Setup {
  readonly fx: HooksFixture;
  readonly mounts: readonly LoopMount[];
  readonly stateDir: string;
}

const hasXfs = () => !spawnSync('mkfs.xfs', ['-V'], { stdio: 'ignore' }).error;

/** An ext4 loop mount (and an xfs one when mkfs.xfs is here); a recording hook. */
function setup(t: TestContext, hooks: Record<string, string> = { '10-db': RECORD }, stateOnMount = false): Setup | undefined {
  const mounts = loopMountsForTest(t, defer, hasXfs() ? ['ext4', 'xfs'] : ['ext4']);
  if (!mounts) return undefined;
  const fx = hooksForTest(defer, hooks);
  return { fx, mounts, stateDir: stateOnMount ? join(mounts[0]!.mountpoint, 'state') : join(fx.root, 'state') };
}

/** The daemon logs to a pipe: a log file on a frozen mount would block its reader, not the daemon. */
function startDaemon(s: Setup, extra: readonly string[] = []): Promise<WatchedProcess> {
  return spawnDaemon(defer, {
    device: emu.device, hooksDir: s.fx.dir, root: s.fx.root, stateDir: s.stateDir,
    defaults: { '--timeout': '2', '--freeze-timeout': '3', '--hook-timeout': '1', '--kill-grace': '0.2' },
    // No --fs-role: on the Linux protocol the fs role is always on.
    flags: s.mounts.flatMap((m) => ['--fs-include', m.mountpoint]),
    extra, thaw: s.mounts.map((m) => m.mountpoint),
  });
}

/** Setup, the daemon, a FREEZE it answered success, and a writer blocked on the first mount. */
async function frozenWithWriter(t: TestContext): Promise<{ s: Setup; daemon: WatchedProcess; w: Writer } | undefined> {
  const s = setup(t);
  if (!s) return undefined;
  const daemon = await startDaemon(s);
  assert.equal((await emu.host.linuxRequest('freeze')).result, 'success');
  const w = writer(s.mounts[0]!.mountpoint);
  await blocked(w);
  return { s, daemon, w };
}

function journal(s: Setup): { frozen: boolean } {
  return JSON.parse(readFileSync(join(s.stateDir, 'frozen.json'), 'utf8')) as { frozen: boolean };
}

test('HOT_BACKUP, FREEZE, THAW: FIFREEZE after the freeze hooks, FITHAW before the thaw hooks; writers block until the thaw', async (t) => {
  const s = setup(t, { '10-db': RECORD }, true);
  if (!s) return;
  // The device's name says Linux; --protocol linux says it again.
  const daemon = await startDaemon(s, ['--protocol', 'linux']);
  const check = await emu.host.linuxRequest('hot-backup');
  // HV_S_OK overlays byte 0, so the host's flags stay as they came (as with hv_vss_daemon).
  assert.deepEqual([check.result, check.status, check.flags], ['success', '0x00000000', 0], daemon.output);
  const freeze = await emu.host.linuxRequest('freeze');
  assert.equal(freeze.result, 'success', `${JSON.stringify(freeze)}\n${daemon.output}`);
  const writers = s.mounts.map((m) => writer(m.mountpoint));
  for (const w of writers) await blocked(w);
  // status answers while frozen and names the protocol, the device and the frozen file systems.
  const status = await hvvssRun(['status', '--json', ...runPaths(s.fx.root, s.stateDir)]);
  const report = JSON.parse(status.stdout) as { daemon: { snapshot: { protocol: string; device: string; frozen: { mounts: string[] } } } };
  assert.equal(report.daemon.snapshot.protocol, 'linux');
  assert.equal(report.daemon.snapshot.device, emu.device);
  assert.deepEqual([...report.daemon.snapshot.frozen.mounts].sort(), s.mounts.map((m) => m.mountpoint).sort());
  const thaw = await emu.host.linuxRequest('thaw');
  assert.equal(thaw.result, 'success', `${JSON.stringify(thaw)}\n${daemon.output}`);
  for (const w of writers) assert.equal((await within(w.exited, 10_000, 'a writer after the thaw')).code, 0);
  assert.deepEqual(s.fx.log(), ['10-db check host', '10-db freeze host', '10-db thaw host']);
  await daemon.waitForLine(/answered success to thaw/);
  const [first, second] = s.mounts;
  if (second) {
    // Later mounts first, "/"-like parents last; thawed in reverse.
    assert.match(daemon.output, new RegExp(`froze ${second.mountpoint} \\(xfs\\)[^]*froze ${first!.mountpoint} \\(ext4\\)[^]*thawed ${first!.mountpoint}[^]*thawed ${second.mountpoint}`));
  }
  assert.match(daemon.output, /hook 10-db freeze \(host\)[^]*froze [^]*thawed [^]*hook 10-db thaw \(host\)/);
  assert.equal(journal(s).frozen, false);
});

test('a freeze hook fails: FREEZE is answered HV_E_FAIL, the hooks before it are rolled back, nothing is frozen', async (t) => {
  const s = setup(t, { '10-db': RECORD, '20-bad': `${RECORD}\n[ "$1" = freeze ] && exit 3\nexit 0` });
  if (!s) return;
  const daemon = await startDaemon(s);
  const freeze = await emu.host.linuxRequest('freeze');
  assert.deepEqual([freeze.result, freeze.status], ['fail', '0x80004005'], daemon.output);
  await daemon.waitForLine(/thaw \(rollback, msgid \d+\)/);
  assert.deepEqual(s.fx.log(), ['10-db freeze host', '20-bad freeze host', '20-bad thaw rollback', '10-db thaw rollback']);
  const w = writer(s.mounts[0]!.mountpoint);
  assert.equal((await within(w.exited, 10_000, 'a writer after the failed freeze')).code, 0);
});

test('FIFREEZE fails on the second mount: the first is thawed, FREEZE fails, the hooks roll back', async (t) => {
  const s = setup(t);
  if (!s) return;
  if (s.mounts.length < 2) return t.skip('needs mkfs.xfs for a second mount (apt-get install xfsprogs)');
  const daemon = await startDaemon(s);
  // The first mount in the plan's order (the xfs one, mounted later) freezes; the ext4 one is already frozen: EBUSY.
  const [ext4, xfs] = s.mounts as [LoopMount, LoopMount];
  execFileSync('fsfreeze', ['-f', ext4.mountpoint]);
  const freeze = await emu.host.linuxRequest('freeze');
  assert.equal(freeze.result, 'fail', JSON.stringify(freeze));
  const w = writer(xfs.mountpoint);
  assert.equal((await within(w.exited, 10_000, 'the writer on the xfs mount after the rollback')).code, 0);
  await daemon.waitForLine(/thaw \(rollback, msgid \d+\)/);
  assert.match(daemon.output, new RegExp(`froze ${xfs.mountpoint} \\(xfs\\)[^]*cannot freeze ${ext4.mountpoint} \\(ext4\\): FIFREEZE ${ext4.mountpoint}: EBUSY[^]*thawed ${xfs.mountpoint}`));
  assert.deepEqual(s.fx.log().slice(-1), ['10-db thaw rollback']);
  thawLoop(ext4.mountpoint);
});

test('an answer past the kernel\'s FREEZE limit is refused (EINVAL): the daemon rolls back, registers again, and serves the next request', async (t) => {
  // The freeze hook takes longer than the emulator's FREEZE limit; the daemon's own deadline is longer still.
  const s = setup(t, { '10-slow': `${RECORD}\n[ "$1" = freeze ] && sleep ${(LIMITS.freezeMs + 1_000) / 1000}\nexit 0` });
  if (!s) return;
  const daemon = await startDaemon(s, ['--freeze-timeout', String((LIMITS.freezeMs + 3_000) / 1000), '--hook-timeout', String((LIMITS.freezeMs + 2_000) / 1000)]);
  const start = (await emu.host.events()).at(-1)?.seq ?? 0;
  const freeze = await emu.host.linuxRequest('freeze');
  assert.deepEqual([freeze.result, freeze.reason], ['fail', 'timeout']);
  const refused = await emu.host.waitForLinuxEvent((e) => e.kind === 'refused-write' && e.errno === 'EINVAL' && e.seq > start, 20_000);
  await emu.host.waitForLinuxEvent((e) => e.kind === 'ready' && e.seq > refused.seq);
  const w = writer(s.mounts[0]!.mountpoint);
  assert.equal((await within(w.exited, 10_000, 'a writer after the rollback of the refused freeze')).code, 0);
  await daemon.waitForLine(/thaw \(rollback, msgid \d+\): success/);
  assert.match(daemon.output, /refused the answer \(EINVAL\)/);
  assert.match(daemon.output, /registered again/);
  assert.equal((await emu.host.linuxRequest('hot-backup')).result, 'success', daemon.output);
  assert.deepEqual(s.fx.log(), ['10-slow freeze host', '10-slow thaw rollback', '10-slow check host']);
});

test('no THAW: the watchdog thaws the file systems, then the hooks', async (t) => {
  const s = setup(t, { '10-db': RECORD }, true);
  if (!s) return;
  const daemon = await startDaemon(s, ['--freeze-timeout', '1', '--max-frozen', '2']);
  assert.equal((await emu.host.linuxRequest('freeze')).result, 'success');
  const w = writer(s.mounts[0]!.mountpoint);
  assert.equal((await within(w.exited, 10_000, 'the writer after the watchdog thaw')).code, 0);
  await daemon.waitForLine(/thaw \(watchdog, msgid \d+\): success/);
  assert.deepEqual(s.fx.log().slice(-1), ['10-db thaw watchdog']);
  // The host's THAW after that finds nothing frozen.
  assert.equal((await emu.host.linuxRequest('thaw')).result, 'success');
});

test('hibernation while frozen: the kernel\'s fake THAW thaws the file systems and the hooks; its answer is refused and the daemon registers again', async (t) => {
  const frozen = await frozenWithWriter(t);
  if (!frozen) return;
  const { s, daemon, w } = frozen;
  const start = (await emu.host.events()).at(-1)?.seq ?? 0;
  await emu.host.hibernate();
  assert.equal((await within(w.exited, 10_000, 'the writer after the fake THAW')).code, 0);
  const refused = await emu.host.waitForLinuxEvent((e) => e.kind === 'refused-write' && e.seq > start);
  await emu.host.waitForLinuxEvent((e) => e.kind === 'ready' && e.seq > refused.seq);
  assert.deepEqual(s.fx.log().slice(-1), ['10-db thaw host']);
  assert.equal((await emu.host.linuxRequest('hot-backup')).result, 'success', daemon.output);
});

test('SIGTERM while frozen: thawed, then exit 0', async (t) => {
  const frozen = await frozenWithWriter(t);
  if (!frozen) return;
  const { s, daemon, w } = frozen;
  assert.equal((await daemon.stop('SIGTERM')).code, 0, daemon.output);
  assert.equal((await within(w.exited, 10_000, 'the writer after SIGTERM')).code, 0);
  assert.deepEqual(s.fx.log().slice(-1), ['10-db thaw shutdown']);
});

test('SIGKILL while frozen: the kernel thaws nothing; the restart thaws what the journal names (FITHAW, then the hooks) before registering', async (t) => {
  const s = setup(t, { '10-db': RECORD }, true);
  if (!s) return;
  const first = await startDaemon(s);
  assert.equal((await emu.host.linuxRequest('freeze')).result, 'success');
  const start = (await emu.host.events()).at(-1)?.seq ?? 0;
  await first.stop('SIGKILL');
  // Closed by its death (the kernel's release reaches the driver after the process is gone): the
  // channel is not ready, and nothing was thawed.
  await emu.host.waitForLinuxEvent((e) => e.kind === 'release' && e.seq > start);
  assert.equal((await emu.host.linuxRequest('thaw')).reason, 'not-registered');
  const writers = s.mounts.map((m) => writer(m.mountpoint));
  for (const w of writers) await blocked(w);
  const second = await startDaemon(s);
  for (const w of writers) assert.equal((await within(w.exited, 10_000, 'a writer after recovery')).code, 0);
  assert.deepEqual(s.fx.log().slice(-1), ['10-db thaw recovery']);
  for (const m of s.mounts) {
    assert.match(second.output, new RegExp(`thawed ${m.mountpoint} \\(\\w+\\) \\(recovery\\)[^]*registered on ${emu.device}`));
  }
  assert.equal(journal(s).frozen, false);
  assert.equal((await emu.host.linuxRequest('hot-backup')).result, 'success');
});

test('a second agent gets EBUSY, and the message names hv-vss-daemon.service and hypervvssd.service and how to disable them', async (t) => {
  const s = setup(t);
  if (!s) return;
  await startDaemon(s);
  const other = hooksForTest(defer);
  const second = await hvvssRun([
    'daemon', '-n', '--device', emu.device, '--hooks-dir', other.dir, '--pidfile', join(other.root, 'run', 'p.pid'),
    '--socket', join(other.root, 'run', 's.sock'), '--state-dir', join(other.root, 'state'),
  ]);
  assert.equal(second.code, 1, second.output);
  assert.match(second.output, /is busy: another VSS agent has it open/);
  assert.match(second.output, /systemctl disable --now hv-vss-daemon\.service/);
  assert.match(second.output, /systemctl disable --now hypervvssd\.service/);
});

test('--freeze-timeout must be shorter than --max-frozen (the watchdog counts from the start of the freeze); --timeout below Linux\'s 30 s', async () => {
  const run = await hvvssRun(['daemon', '-n', '--device', '/nonexistent/vmbus/hv_vss', '--freeze-timeout', '60', '--max-frozen', '60']);
  assert.equal(run.code, 2, run.output);
  assert.match(flat(run.output), /--freeze-timeout 60 must be shorter than --max-frozen 60/);
  const slow = await hvvssRun(['daemon', '-n', '--device', '/nonexistent/vmbus/hv_vss', '--timeout', '30']);
  assert.equal(slow.code, 2, slow.output);
  assert.match(flat(slow.output), /--timeout 30 must be below Linux's 30 s limit for HOT_BACKUP and THAW/);
});
