import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VssKernel, type KernelEvent, type Side } from '../../src/emulator/vss-kernel.ts';
import { VSS_FAIL, VSS_SUCCESS } from '../../src/protocol/hv-vss.ts';
import { FakeClock } from '../support/fake-clock.ts';

function setup(options: { app?: boolean; fs?: boolean } = {}) {
  const clock = new FakeClock();
  const events: KernelEvent[] = [];
  const wakeups: Side[] = [];
  const kernel = new VssKernel({ clock, timeoutMs: 15_000, onEvent: (e) => events.push(e), onReadable: (s) => wakeups.push(s) });
  if (options.app ?? true) assert.equal(kernel.open('app', 100), 0);
  if (options.fs ?? true) assert.equal(kernel.open('fs', 200), 0);
  /** Reads the pending request on a side and answers it. */
  const answer = (side: Side, status: number, delayMs = 0) => {
    assert.ok(kernel.readable(side), `${side} should be readable`);
    const msg = kernel.read(side);
    assert.equal(msg.status, VSS_SUCCESS);
    clock.advance(delayMs);
    kernel.write(side, { ...msg, status });
    return msg;
  };
  return { clock, events, wakeups, kernel, answer };
}

test('CHECK and FREEZE go to the app first, then the fs daemon', async () => {
  for (const op of ['check', 'freeze'] as const) {
    const { kernel, answer, wakeups } = setup();
    const pending = kernel.hostRequest(op);
    assert.ok(kernel.readable('app'));
    assert.ok(!kernel.readable('fs'));
    answer('app', VSS_SUCCESS, 5);
    assert.ok(kernel.readable('fs'));
    answer('fs', VSS_SUCCESS, 3);
    const result = await pending;
    assert.equal(result.result, 'success');
    assert.deepEqual(result.stages.map((s) => [s.side, s.status]), [['app', 'success'], ['fs', 'success']]);
    assert.equal(result.totalMs, 8);
    assert.deepEqual(wakeups, ['app', 'fs']);
    assert.equal(result.flags, op === 'check' ? 5 : undefined);
  }
});

test('THAW goes to the fs daemon first, then the app', async () => {
  const { kernel, answer } = setup();
  const pending = kernel.hostRequest('thaw');
  assert.ok(kernel.readable('fs'));
  assert.ok(!kernel.readable('app'));
  answer('fs', VSS_SUCCESS);
  answer('app', VSS_SUCCESS);
  assert.deepEqual((await pending).stages.map((s) => s.side), ['fs', 'app']);
});

test('without an app agent, only the fs daemon is asked', async () => {
  const { kernel, answer } = setup({ app: false });
  const pending = kernel.hostRequest('freeze');
  answer('fs', VSS_SUCCESS);
  const result = await pending;
  assert.equal(result.result, 'success');
  assert.deepEqual(result.stages.map((s) => s.side), ['fs']);
});

test('an app failure ends the transaction: the fs daemon is never told', async () => {
  const { kernel, answer } = setup();
  const pending = kernel.hostRequest('freeze');
  answer('app', VSS_FAIL);
  assert.ok(!kernel.readable('fs'));
  const result = await pending;
  assert.equal(result.result, 'fail');
  assert.equal(result.reason, 'app-failed');
});

test('a failed fs thaw ends the transaction before the app is told', async () => {
  const { kernel, answer } = setup();
  const pending = kernel.hostRequest('thaw');
  answer('fs', VSS_FAIL);
  assert.ok(!kernel.readable('app'));
  assert.equal((await pending).reason, 'fs-failed');
});

test('one timeout covers every stage; a late answer is ignored and recorded as stale', async () => {
  const { kernel, answer, clock, events } = setup();
  const pending = kernel.hostRequest('freeze');
  answer('app', VSS_SUCCESS, 10_000);
  const msg = kernel.read('fs');
  clock.advance(5_000);
  const result = await pending;
  assert.equal(result.result, 'fail');
  assert.equal(result.reason, 'timeout');
  assert.equal(result.timedOutIn, 'fs');
  clock.advance(2_000);
  kernel.write('fs', { ...msg, status: VSS_SUCCESS });
  const stale = events.find((e) => e.kind === 'stale-write');
  assert.ok(stale && stale.kind === 'stale-write');
  assert.equal(stale.side, 'fs');
  assert.equal(stale.lateByMs, 2_000);
  assert.equal(stale.msgid, msg.msgid.toString());
});

test('a read with nothing queued returns status VSS_FAIL', () => {
  const { kernel } = setup();
  assert.equal(kernel.read('app').status, VSS_FAIL);
});

test('a second opener gets EBUSY; closing unregisters', () => {
  const { kernel } = setup();
  assert.equal(kernel.open('app', 300), 'EBUSY');
  kernel.release('app');
  assert.equal(kernel.open('app', 300), 0);
});

test('a host request while one is in flight is ignored: no reply, the host gives up on its own', async () => {
  const { kernel, answer, clock, events } = setup();
  const first = kernel.hostRequest('check');
  let secondSettled = false;
  const second = kernel.hostRequest('freeze').finally(() => (secondSettled = true));
  assert.ok(events.some((e) => e.kind === 'host-ignored' && e.op === 'freeze'));
  answer('app', VSS_SUCCESS);
  answer('fs', VSS_SUCCESS);
  assert.equal((await first).result, 'success');
  await Promise.resolve();
  assert.equal(secondSettled, false, 'the kernel never replies to an ignored request');
  clock.advance(kernel.hostWaitMs);
  const result = await second;
  assert.equal(result.result, 'unanswered');
  assert.equal(result.reason, 'ignored-busy');
  assert.equal(result.flags, undefined);
});

test('fs daemon registered then gone: the host gets a failure at once', async () => {
  const { kernel } = setup();
  kernel.release('fs');
  const result = await kernel.hostRequest('check');
  assert.equal(result.result, 'fail');
  assert.equal(result.reason, 'fs-daemon-gone');
  assert.ok(!kernel.readable('app'));
});

test('fs daemon never registered: the request waits in the channel until it does', async () => {
  const { kernel, answer } = setup({ fs: false });
  const pending = kernel.hostRequest('check');
  assert.ok(!kernel.readable('app'));
  assert.equal(kernel.open('fs', 1), 0);
  answer('app', VSS_SUCCESS);
  answer('fs', VSS_SUCCESS);
  assert.equal((await pending).result, 'success');
});

test('fs daemon never registered and never comes: the host gives up, unanswered', async () => {
  const { kernel, clock } = setup({ fs: false });
  const pending = kernel.hostRequest('check');
  clock.advance(kernel.hostWaitMs);
  const result = await pending;
  assert.equal(result.result, 'unanswered');
  assert.equal(result.reason, 'fs-daemon-never-registered');
});

test('messages left in the channel are all processed when the fs daemon registers, stale ones too: the first runs, the rest find it queued', async () => {
  const { kernel, clock, events, answer } = setup({ fs: false });
  const stale = [kernel.hostRequest('check'), kernel.hostRequest('freeze'), kernel.hostRequest('thaw')];
  clock.advance(kernel.hostWaitMs);
  for (const r of await Promise.all(stale)) assert.equal(r.reason, 'fs-daemon-never-registered');
  assert.ok(!kernel.readable('app'), 'nothing reaches a device before the fs daemon registers');
  assert.equal(kernel.open('fs', 1), 0);
  // The CHECK the host gave up on long ago becomes a transaction; FREEZE and THAW are ignored.
  assert.ok(kernel.readable('app'));
  assert.deepEqual(events.filter((e) => e.kind === 'host-ignored').map((e) => e.kind === 'host-ignored' && e.op), ['freeze', 'thaw']);
  answer('app', VSS_SUCCESS);
  answer('fs', VSS_SUCCESS);
  const late = events.find((e) => e.kind === 'late-reply');
  assert.ok(late && late.kind === 'late-reply');
  assert.equal(late.result.op, 'check');
  assert.equal(late.result.result, 'success');
});

test('an app answer while the fs daemon is not registered is dropped: the host hears only at the timeout', async () => {
  for (const status of [VSS_SUCCESS, VSS_FAIL]) {
    const { kernel, clock, events, answer } = setup();
    const pending = kernel.hostRequest('check');
    kernel.release('fs');
    let settled = false;
    void pending.finally(() => (settled = true));
    answer('app', status, 100);
    await Promise.resolve();
    assert.equal(settled, false, `status ${status}: no reply before the timeout`);
    assert.ok(!kernel.readable('fs') && !kernel.readable('app'));
    assert.ok(events.some((e) => e.kind === 'stranded' && e.side === 'app'));
    clock.advance(kernel.timeoutMs);
    const result = await pending;
    assert.equal(result.result, 'fail');
    assert.equal(result.reason, 'stranded');
    assert.equal(result.totalMs, kernel.timeoutMs);
    assert.equal(result.flags, 5);
    assert.ok(events.some((e) => e.kind === 'kernel-assert'), 'hv_vss_timeout finds the request in no queue');
  }
});

test('a stranded request holds no queue: a new one is taken while it waits for its timeout', async () => {
  const { kernel, clock, answer } = setup();
  const stranded = kernel.hostRequest('freeze');
  kernel.release('fs');
  answer('app', VSS_SUCCESS);
  assert.equal(kernel.open('fs', 2), 0);
  const next = kernel.hostRequest('thaw');
  answer('fs', VSS_SUCCESS);
  answer('app', VSS_SUCCESS);
  assert.equal((await next).result, 'success');
  clock.advance(kernel.timeoutMs);
  assert.equal((await stranded).reason, 'stranded');
});

test('every reply to a CHECK carries VSS_HBU_NO_AUTO_RECOVERY, failures included; other operations none', async () => {
  const failed = setup();
  const appFailed = failed.kernel.hostRequest('check');
  failed.answer('app', VSS_FAIL);
  assert.equal((await appFailed).flags, 5);
  const timedOut = failed.kernel.hostRequest('check');
  failed.clock.advance(failed.kernel.timeoutMs);
  assert.equal((await timedOut).reason, 'timeout');
  assert.equal((await timedOut).flags, 5);
  failed.kernel.release('fs');
  const gone = await failed.kernel.hostRequest('check');
  assert.equal(gone.reason, 'fs-daemon-gone');
  assert.equal(gone.flags, 5);
  const freezeGone = await failed.kernel.hostRequest('freeze');
  assert.equal(freezeGone.flags, undefined);
});

test("the app's status is read as a uint8_t, the fs daemon's as a uint32_t", async () => {
  const { kernel, answer } = setup();
  const pending = kernel.hostRequest('freeze');
  answer('app', 0x100);
  assert.ok(kernel.readable('fs'), '0x100 is a success from the app');
  answer('fs', 0x100);
  const result = await pending;
  assert.equal(result.result, 'fail');
  assert.equal(result.reason, 'fs-failed');
});

test('the answer is dispatched on the opt it echoes (a release kernel only logs the mismatch)', async () => {
  const echoThaw = setup();
  const freeze = echoThaw.kernel.hostRequest('freeze');
  const msg = echoThaw.kernel.read('app');
  echoThaw.kernel.write('app', { ...msg, opt: 3, status: VSS_SUCCESS });
  const result = await freeze;
  assert.equal(result.result, 'success', 'the THAW path of the app ack answers the host at once');
  assert.deepEqual(result.stages.map((s) => s.side), ['app'], 'the fs daemon was never asked to freeze');
  assert.ok(echoThaw.events.some((e) => e.kind === 'violation'));

  const echoNone = setup();
  const check = echoNone.kernel.hostRequest('check');
  const read = echoNone.kernel.read('app');
  echoNone.kernel.write('app', { ...read, opt: 0, status: VSS_SUCCESS });
  assert.ok(echoNone.events.some((e) => e.kind === 'stranded'));
  echoNone.clock.advance(echoNone.kernel.timeoutMs);
  assert.equal((await check).reason, 'stranded');
});

test('a closed device keeps its last opener (what detach signals)', () => {
  const { kernel } = setup();
  kernel.release('app');
  assert.equal(kernel.lastOpener('app'), 100);
  assert.equal(kernel.registered('app'), false);
});

test('detach: queued work is dropped without a reply, the devices are gone', async () => {
  const { kernel, clock, events } = setup();
  const pending = kernel.hostRequest('freeze');
  kernel.read('app');
  kernel.detach();
  assert.equal(kernel.open('app', 5), 'ENOENT');
  clock.advance(kernel.hostWaitMs);
  const result = await pending;
  assert.equal(result.result, 'unanswered');
  assert.equal(result.reason, 'detached');
  assert.ok(!events.some((e) => e.kind === 'host-result' && e.result.result === 'fail'), 'no timeout reply after detach');
  assert.equal((await Promise.race([kernel.hostRequest('check'), Promise.resolve('pending')])), 'pending');
});

test('an echoed opt that differs from the request is recorded as a violation', async () => {
  const { kernel, events } = setup();
  const pending = kernel.hostRequest('check');
  const msg = kernel.read('app');
  kernel.write('app', { ...msg, opt: 2, status: VSS_FAIL });
  await pending;
  assert.ok(events.some((e) => e.kind === 'violation'));
});

test('msgids are nanosecond timestamps above 2^53 and strictly increasing', async () => {
  const { kernel, answer } = setup();
  const ids: bigint[] = [];
  for (let i = 0; i < 3; i++) {
    const pending = kernel.hostRequest('check');
    ids.push(answer('app', VSS_SUCCESS).msgid);
    answer('fs', VSS_SUCCESS);
    await pending;
  }
  assert.ok(ids.every((id) => id > 2n ** 53n));
  assert.ok(ids[0]! < ids[1]! && ids[1]! < ids[2]!);
});
