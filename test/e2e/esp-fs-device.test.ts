// The remount on the fs channel (hvvss registered on hv_fsvss_dev too, as it is on FreeBSD with
// hvvss_fs_enable): the fs FREEZE remounts the mount read-only before it freezes the others, the
// fs THAW thaws them and then makes it read-write, before the app THAW thaws the hooks; killed
// after the fs FREEZE, the next start does both. Loop mounts this test made, named by
// --fs-include: an ext4 (FIFREEZE) and an ext2 the policy file says to remount (this machine's
// kernel may have no vfat: the same mount(2) call).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { emulatorPerFile } from '../support/emulator.ts';
import { within, type WatchedProcess } from '../support/process.ts';
import { hooksForTest, RECORD, type HooksFixture } from '../support/hooks-dir.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { assertFreezable, loopMount, thawLoop, type LoopMount } from '../support/loop-fs.ts';
import { readOnly } from '../support/mount-state.ts';
import { BOTH_CHANNELS, KERNEL_TIMEOUT_S, SHORT_LIMITS, spawnDaemon } from '../support/daemon-fixture.ts';
import { blocked, loopTools, writer } from '../fs/writer.ts';

const defer = cleanupsPerTest();
const emu = emulatorPerFile({ timeoutMs: KERNEL_TIMEOUT_S * 1000, fsDaemon: 'none' });

interface Setup {
  readonly fx: HooksFixture;
  readonly esp: LoopMount;
  readonly data: LoopMount;
  readonly policy: string;
}

function setup(t: TestContext): Setup | undefined {
  if (!loopTools(t, ['mkfs.ext2', 'mkfs.ext4', 'losetup', 'fsfreeze'])) return undefined;
  const fx = hooksForTest(defer, { '10-db': RECORD });
  const data = loopMount('ext4');
  const esp = loopMount('ext2');
  assertFreezable(data.mountpoint);
  // Teardown: thawed and read-write before the unmounts, whatever the test left.
  defer(() => {
    thawLoop(data.mountpoint);
    if (readOnly(esp.mountpoint)) execFileSync('mount', ['-o', 'remount,rw', esp.mountpoint]);
    esp.cleanup();
    data.cleanup();
  });
  const policy = join(fx.root, 'fs-policy');
  writeFileSync(policy, `${esp.mountpoint} remount-ro\n`);
  chmodSync(policy, 0o644);
  return { fx, esp, data, policy };
}

function startDaemon(s: Setup): Promise<WatchedProcess> {
  return spawnDaemon(defer, {
    device: emu.appDevice, fsDevice: emu.fsDevice, hooksDir: s.fx.dir, root: s.fx.root,
    defaults: SHORT_LIMITS,
    flags: ['--fs-role', '--fs-policy', s.policy, '--fs-include', s.data.mountpoint, '--fs-include', s.esp.mountpoint],
    thaw: [s.data.mountpoint], registered: BOTH_CHANNELS,
  });
}

test('both channels: the fs FREEZE remounts read-only then freezes, the fs THAW thaws then remounts read-write, then the app THAW thaws the hooks', async (t) => {
  const s = setup(t);
  if (!s) return;
  const daemon = await startDaemon(s);
  assert.equal((await emu.host.request('check')).result, 'success', daemon.output);
  assert.equal((await emu.host.request('freeze')).result, 'success', daemon.output);
  assert.equal(readOnly(s.esp.mountpoint), true);
  const w = writer(s.data.mountpoint);
  await blocked(w);
  assert.equal((await emu.host.request('thaw')).result, 'success', daemon.output);
  assert.equal((await within(w.exited, 10_000, 'the writer after the thaw')).code, 0);
  assert.equal(readOnly(s.esp.mountpoint), false);
  await daemon.waitForLine(/info\s+answered success to thaw/);
  const esp = s.esp.mountpoint.replaceAll('/', '\\/');
  const data = s.data.mountpoint.replaceAll('/', '\\/');
  assert.match(daemon.output, new RegExp(
    `remounted ${esp} \\(ext2\\) read-only[^]*froze ${data} \\(ext4\\)[^]*fs device: answered success to freeze` +
      `[^]*thawed ${data} \\(ext4\\)[^]*remounted ${esp} \\(ext2\\) read-write[^]*fs device: answered success to thaw[^]*answered success to thaw`,
  ));
  assert.deepEqual(s.fx.log(), ['10-db check host', '10-db freeze host', '10-db thaw host']);
});

test('SIGKILL after the fs FREEZE, then a restart: the mount frozen is thawed and the one remounted is read-write again, then the hooks', async (t) => {
  const s = setup(t);
  if (!s) return;
  const first = await startDaemon(s);
  assert.equal((await emu.host.request('freeze')).result, 'success', first.output);
  assert.equal(readOnly(s.esp.mountpoint), true);
  await first.stop('SIGKILL');
  const w = writer(s.data.mountpoint);
  await blocked(w);
  const second = await startDaemon(s);
  assert.equal((await within(w.exited, 10_000, 'the writer after recovery')).code, 0);
  assert.equal(readOnly(s.esp.mountpoint), false);
  assert.deepEqual(s.fx.log().slice(-1), ['10-db thaw recovery']);
  assert.match(second.output, /\(recovery\)/);
});
