// hvvss daemon --fs-role on FreeBSD's UFS path, end to end on Linux: the mount table is FreeBSD's
// (HVVSS_FREEBSD_MOUNT_TABLE: the emulator's DIR/mount-p lists two loop mounts as ufs), the
// daemon registers on both emulated devices (the fs stand-in is off), and the suspension helper,
// built from the FreeBSD code path (-DHVVSS_EMULATED_UFSSUSPEND), suspends each mount through the
// emulated /dev/ufssuspend, one descriptor per mount, which freezes the loop mounts for real.
// Nothing else can be frozen: the emulator allows only these loop mounts.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator, type RecordedEvent, type RunningEmulator } from '../../src/emulator/host-client.ts';
import { FREEBSD_MOUNT_TABLE_ENV } from '../../src/fs/mount-table.ts';
import { hvvssRun, within, type WatchedProcess } from '../support/process.ts';
import { hooksForTest, RECORD, writesTo, type HooksFixture } from '../support/hooks-dir.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { assertFreezable, loopMount, type LoopMount } from '../support/loop-fs.ts';
import { BOTH_CHANNELS, KERNEL_TIMEOUT_S, runPaths, SHORT_LIMITS, spawnDaemon } from '../support/daemon-fixture.ts';
import { blocked, loopTools, writer } from '../fs/writer.ts';
import { buildC, buildHelper } from '../fs/helper-build.ts';

const CALLER_SOURCE = fileURLToPath(new URL('../emulator/ufs-caller.c', import.meta.url));
const defer = cleanupsPerTest();
let a: LoopMount | undefined;
let b: LoopMount | undefined;
let emu: RunningEmulator | undefined;

before(async () => {
  const tools = ['mkfs.ext4', 'losetup', 'fsfreeze'].every((tool) => !spawnSync(tool, ['--version'], { stdio: 'ignore' }).error);
  if (process.getuid?.() !== 0 || !tools) return;
  a = loopMount('ext4');
  b = loopMount('ext4');
  // mount-p lists A then B: children (later mounts) first, so B is suspended first, A second.
  emu = await startEmulator({ timeoutMs: KERNEL_TIMEOUT_S * 1000, fsDaemon: 'none', ufsAllow: [a.mountpoint, b.mountpoint] });
});
after(async () => {
  await emu?.stop();
  a?.cleanup();
  b?.cleanup();
});

interface Setup {
  readonly emu: RunningEmulator;
  readonly helper: string;
  readonly fx: HooksFixture;
  readonly a: string;
  readonly b: string;
  readonly stateDir: string;
  /** The emulator's last event before this test. */
  readonly since: number;
}

/** `quiet`: no hook writes to A, and the journal is not on A (for a test where someone else holds A suspended). */
async function setup(t: TestContext, options: { readonly quiet?: boolean } = {}): Promise<Setup | undefined> {
  const helper = buildHelper(t, 'emulated-ufs');
  if (!helper || !loopTools(t)) return undefined;
  assert.ok(emu && a && b, 'the emulator and the loop mounts were set up');
  assertFreezable(a.mountpoint);
  assertFreezable(b.mountpoint);
  // A hook that writes to A at freeze and at thaw: it would block if A were suspended then.
  const fx = hooksForTest(defer, { '10-db': RECORD, ...(options.quiet ? {} : { '20-write': writesTo(a.mountpoint) }) });
  const since = (await emu.host.events()).at(-1)?.seq ?? 0;
  // The journal on a suspended mount: nothing may be written to it from the intent to the last thaw.
  const stateDir = options.quiet ? join(fx.root, 'state') : join(a.mountpoint, `state-${since}`);
  return { emu, helper, fx, a: a.mountpoint, b: b.mountpoint, stateDir, since };
}

const paths = (s: Setup): string[] => runPaths(s.fx.root, s.stateDir);

/** FreeBSD's mount table and the emulated ufssuspend, for the daemon and the helper it starts. */
function env(s: Setup): NodeJS.ProcessEnv {
  return { ...process.env, [FREEBSD_MOUNT_TABLE_ENV]: s.emu.mountTable, HVVSS_UFSSUSPEND: s.emu.ufsSuspend };
}

function startDaemon(s: Setup): Promise<WatchedProcess> {
  return spawnDaemon(defer, {
    device: s.emu.appDevice, fsDevice: s.emu.fsDevice, hooksDir: s.fx.dir, root: s.fx.root, stateDir: s.stateDir,
    defaults: SHORT_LIMITS,
    flags: ['--fs-role', '--fs-helper', s.helper, '--fs-include', s.a, '--fs-include', s.b],
    env: env(s), thaw: [s.a, s.b], registered: BOTH_CHANNELS,
  });
}

/** Setup, the daemon, and a host FREEZE it answered success. */
async function frozenDaemon(t: TestContext): Promise<{ s: Setup; daemon: WatchedProcess } | undefined> {
  const s = await setup(t);
  if (!s) return undefined;
  const daemon = await startDaemon(s);
  assert.equal((await s.emu.host.request('freeze')).result, 'success', daemon.output);
  return { s, daemon };
}

function event(s: Setup, kind: string, match: (e: RecordedEvent & Record<string, unknown>) => boolean = () => true): Promise<RecordedEvent> {
  return s.emu.host.waitForEvent((e) => e.seq > s.since && e.kind === kind && match(e as RecordedEvent & Record<string, unknown>));
}

test('dry run: the FreeBSD plan suspends both UFS mounts through /dev/ufssuspend', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const dry = await hvvssRun(['check', '--dry-run', '--hooks-dir', s.fx.dir, '--socket', join(s.fx.root, 'nosock'), '--state-dir', s.stateDir, '--fs-include', s.a, '--fs-include', s.b], { env: env(s) });
  assert.equal(dry.code, 0, dry.output);
  for (const m of [s.a, s.b]) assert.match(dry.stdout, new RegExp(`${m}\\s+ufs\\s+suspend: UFS: suspended through /dev/ufssuspend until the thaw`));
  // And why hv_vss_daemon cannot do it: one descriptor for both.
  assert.match(dry.stdout, /suspends the 2 UFS mounts .* through one \/dev\/ufssuspend descriptor, which holds only one/);
});

test('CHECK, FREEZE, THAW: the helper suspends B then A after the freeze hooks, writers block, the fs THAW resumes them before the thaw hooks', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const daemon = await startDaemon(s);
  assert.equal((await s.emu.host.request('check')).result, 'success', daemon.output);
  const freeze = await s.emu.host.request('freeze');
  assert.equal(freeze.result, 'success', `${JSON.stringify(freeze)}\n${daemon.output}`);
  const suspendedB = await event(s, 'ufs-suspend', (e) => e.mountpoint === s.b);
  const suspendedA = await event(s, 'ufs-suspend', (e) => e.mountpoint === s.a);
  assert.ok(suspendedB.seq < suspendedA.seq, 'B (the later mount) first');
  const wa = writer(s.a);
  const wb = writer(s.b);
  await blocked(wa);
  await blocked(wb);
  const thaw = await s.emu.host.request('thaw');
  assert.equal(thaw.result, 'success', `${JSON.stringify(thaw)}\n${daemon.output}`);
  assert.equal((await within(wa.exited, 10_000, 'the writer on A after the thaw')).code, 0);
  assert.equal((await within(wb.exited, 10_000, 'the writer on B after the thaw')).code, 0);
  await event(s, 'ufs-resume', (e) => e.mountpoint === s.a && e.why === 'UFSRESUME');
  await event(s, 'ufs-resume', (e) => e.mountpoint === s.b && e.why === 'UFSRESUME');
  assert.deepEqual(s.fx.log(), ['10-db check host', '20-write check host', '10-db freeze host', '20-write freeze host', '20-write thaw host', '10-db thaw host']);
  assert.equal(readFileSync(join(s.a, 'hook-thaw'), 'utf8'), 'thaw\n');
  await daemon.waitForLine(/info\s+answered success to thaw/);
  assert.match(daemon.output, new RegExp(`froze ${s.b} \\(ufs\\), ${s.a} \\(ufs\\) through ${s.helper}`));
  assert.equal(JSON.parse(readFileSync(join(s.stateDir, 'frozen.json'), 'utf8')).frozen, false);
});

test('SIGKILL of the daemon while suspended: its helper resumes both at once; the restart thaws the hooks, nothing stays suspended', async (t) => {
  const frozen = await frozenDaemon(t);
  if (!frozen) return;
  const { s, daemon: first } = frozen;
  const wa = writer(s.a);
  await blocked(wa);
  await first.stop('SIGKILL');
  // The helper's stdin closed with the daemon: it resumed the mounts itself.
  assert.equal((await within(wa.exited, 10_000, 'the writer on A once the daemon died')).code, 0);
  await event(s, 'ufs-resume', (e) => e.mountpoint === s.a);
  await event(s, 'ufs-resume', (e) => e.mountpoint === s.b);
  const second = await startDaemon(s);
  await second.waitForLine(new RegExp(`${s.a} \\(ufs\\): resumed when the suspension helper ended \\(recovery\\)`));
  assert.deepEqual(s.fx.log().slice(-2), ['20-write thaw recovery', '10-db thaw recovery']);
  assert.equal((await within(writer(s.b).exited, 10_000, 'a writer on B after the restart')).code, 0);
  assert.equal(JSON.parse(readFileSync(join(s.stateDir, 'frozen.json'), 'utf8')).frozen, false);
});

test('the helper killed while suspended: the mounts resume with it, the daemon thaws the hooks at once, says why in its status and answers the THAW with failure', async (t) => {
  const frozen = await frozenDaemon(t);
  if (!frozen) return;
  const { s, daemon } = frozen;
  const suspended = await event(s, 'ufs-suspend', (e) => e.mountpoint === s.a);
  const w = writer(s.a);
  await blocked(w);
  process.kill((suspended as RecordedEvent & { pid: number }).pid, 'SIGKILL');
  await event(s, 'ufs-resume', (e) => e.mountpoint === s.a && e.why === 'close');
  assert.equal((await within(w.exited, 10_000, 'the writer on A once the helper died')).code, 0);
  // No THAW yet: the daemon noticed by itself and rolled the hooks back.
  await daemon.waitForLine(/thaw \(rollback, msgid \d+\): fail/);
  assert.deepEqual(s.fx.log().slice(-2), ['20-write thaw rollback', '10-db thaw rollback']);
  assert.match(daemon.output, /BROKEN FREEZE: the suspension helper \(pid \d+\) was killed by SIGKILL while it held/);
  const status = await hvvssRun(['status', '--json', ...paths(s)]);
  const report = JSON.parse(status.stdout) as { daemon: { snapshot: { transactions: Array<{ op: string; reason: string; result: string; problems: string[] }> } } };
  const [last] = report.daemon.snapshot.transactions;
  assert.equal(last?.op, 'thaw');
  assert.equal(last?.reason, 'rollback');
  assert.equal(last?.result, 'fail');
  assert.match(last?.problems.join('\n') ?? '', /the suspension helper \(pid \d+\) ended \(killed by SIGKILL\) before the thaw, while it held .*: they were resumed when it died, so the snapshot may not be consistent/);
  // The host's THAW, later, finds nothing frozen, and answers failure: the snapshot may not be consistent.
  assert.equal((await s.emu.host.request('thaw')).result, 'fail');
  await daemon.waitForLine(/THAW \(msgid \d+\) ends a freeze that broke before it: the suspension helper \(pid \d+\) was killed by SIGKILL while it held .*; answering failure/);
});

test('the second of two mounts cannot be suspended (EBUSY: another descriptor holds it): the first is resumed at once, FREEZE fails, the hooks roll back', async (t) => {
  const s = await setup(t, { quiet: true });
  if (!s) return;
  const callerPath = buildC(t, CALLER_SOURCE, 'ufs-caller', ['-pthread']);
  if (!callerPath) return;
  const daemon = await startDaemon(s);
  // Someone else holds A suspended: A is the second mount the helper suspends.
  const holder = spawn(callerPath, [s.emu.ufsSuspend, s.a], { stdio: ['pipe', 'pipe', 'ignore'] });
  defer(() => holder.kill('SIGKILL'));
  await event(s, 'ufs-suspend', (e) => e.mountpoint === s.a);
  const freeze = await s.emu.host.request('freeze');
  assert.equal(freeze.result, 'fail', JSON.stringify(freeze));
  await event(s, 'ufs-refused', (e) => e.errno === 'EBUSY');
  await event(s, 'ufs-resume', (e) => e.mountpoint === s.b && e.why === 'UFSRESUME');
  assert.equal((await within(writer(s.b).exited, 10_000, 'a writer on B after the rollback')).code, 0);
  await daemon.waitForLine(new RegExp(`cannot freeze ${s.a} \\(ufs\\): EBUSY`));
  await daemon.waitForLine(/thaw \(rollback, msgid \d+\)/);
  assert.deepEqual(s.fx.log().slice(-1), ['10-db thaw rollback']);
  holder.stdin.end();
  await event(s, 'ufs-resume', (e) => e.mountpoint === s.a && e.why === 'close');
});
