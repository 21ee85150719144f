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

test('a host request while one is in flight is dropped', async () => {
  const { kernel, answer } = setup();
  const first = kernel.hostRequest('check');
  const second = await kernel.hostRequest('freeze');
  assert.equal(second.result, 'dropped');
  answer('app', VSS_SUCCESS);
  answer('fs', VSS_SUCCESS);
  assert.equal((await first).result, 'success');
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

test('fs daemon never registered and never comes: unanswered after the timeout', async () => {
  const { kernel, clock } = setup({ fs: false });
  const pending = kernel.hostRequest('check');
  clock.advance(15_000);
  assert.equal((await pending).result, 'unanswered');
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
