// The emulated kernel's rules as a host and a real agent see them: the fs daemon stage,
// a vanished fs daemon, and an fs failure after the application was frozen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startEmulator, type RunningEmulator } from '../../src/emulator/host-client.ts';
import { hvvss, type WatchedProcess } from '../support/process.ts';
import { hooksFixture, RECORD } from '../support/hooks-dir.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';

const defer = cleanupsPerTest();

async function emulator(fsDaemon: 'success' | 'fail' | 'late' | 'none'): Promise<RunningEmulator> {
  const emu = await startEmulator({ timeoutMs: 1000, fsDaemon });
  defer(() => emu.stop());
  return emu;
}

async function simulate(emu: RunningEmulator): Promise<WatchedProcess> {
  const proc = hvvss(['simulate', '-n', '--wait', '0', '--kernel-timeout', '1', '--device', emu.appDevice]);
  defer(() => proc.stop());
  await proc.waitForLine(/registered on /);
  return proc;
}

test('an fs daemon failure fails the host request after the app said yes', async () => {
  const emu = await emulator('fail');
  await simulate(emu);
  const result = await emu.host.request('freeze');
  assert.equal(result.result, 'fail');
  assert.equal(result.reason, 'fs-failed');
  assert.deepEqual(result.stages.map((s) => [s.side, s.status]), [['app', 'success'], ['fs', 'fail']]);
});

test('a late fs daemon makes the transaction time out in the fs stage; its answer is stale', async () => {
  const emu = await emulator('late');
  await simulate(emu);
  const result = await emu.host.request('check');
  assert.equal(result.reason, 'timeout');
  assert.equal(result.timedOutIn, 'fs');
  await emu.host.waitForEvent((e) => e.kind === 'stale-write' && e.side === 'fs' && e.msgid === result.msgid);
});

test('an fs daemon that registered and went away: every request fails at once, the app is not asked', async () => {
  const emu = await emulator('success');
  await simulate(emu);
  await emu.host.fsDaemon('stop');
  const result = await emu.host.request('freeze');
  assert.equal(result.result, 'fail');
  assert.equal(result.reason, 'fs-daemon-gone');
  assert.deepEqual(result.stages, []);
});

test('a second host request while one is in flight is dropped', async () => {
  const emu = await emulator('success');
  const agent = hvvss(['simulate', '-n', '--wait', '0.3', '--kernel-timeout', '1', '--device', emu.appDevice]);
  defer(() => agent.stop());
  await agent.waitForLine(/registered on /);
  const first = emu.host.request('freeze');
  await agent.waitForLine(/received freeze/);
  const second = await emu.host.request('thaw');
  assert.equal(second.result, 'dropped');
  assert.equal((await first).result, 'success');
});

test('after an fs-stage failure of a FREEZE the kernel never thaws the app: the daemon watchdog does', async () => {
  const emu = await emulator('fail');
  const fx = hooksFixture({ '10-db': RECORD });
  defer(() => fx.cleanup());
  const daemon = hvvss(['daemon', '-n', '--device', emu.appDevice, '--hooks-dir', fx.dir, '--kernel-timeout', '1', '--timeout', '0.8', '--hook-timeout', '0.5', '--kill-grace', '0.1',
    '--max-frozen', '0.3', '--pidfile', join(fx.root, 'pid'), '--socket', join(fx.root, 'sock'), '--state-dir', join(fx.root, 'state')]);
  defer(() => daemon.stop());
  await daemon.waitForLine(/registered on /);
  const result = await emu.host.request('freeze');
  assert.equal(result.reason, 'fs-failed');
  await daemon.waitForLine(/thaw \(watchdog, msgid \d+\): success/);
  assert.deepEqual(fx.log(), ['10-db freeze host', '10-db thaw watchdog']);
});
