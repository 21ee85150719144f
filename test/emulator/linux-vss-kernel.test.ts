import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LinuxVssKernel, type LinuxKernelEvent } from '../../src/emulator/linux-vss-kernel.ts';
import { HV_E_FAIL, HV_S_OK, LinuxVssOp, VSS_OP_REGISTER, encodeLinuxAnswer, encodeRegister } from '../../src/protocol/linux-vss.ts';
import { FakeClock } from '../support/fake-clock.ts';

const LIMITS = { freezeMs: 900_000, otherMs: 30_000 };

function setup(options: { register?: boolean } = {}) {
  const clock = new FakeClock();
  const events: LinuxKernelEvent[] = [];
  let wakeups = 0;
  const kernel = new LinuxVssKernel({ clock, limits: LIMITS, onEvent: (e) => events.push(e), onReadable: () => void wakeups++ });
  if (options.register ?? true) {
    assert.equal(kernel.open(10), 0);
    assert.equal(kernel.write(encodeRegister()), 12);
    const reply = kernel.read(12);
    assert.ok(Buffer.isBuffer(reply));
    assert.equal(reply.length, 4);
    assert.equal(reply.readUInt32LE(0), 129);
    assert.equal(kernel.state, 'ready');
  }
  /** Reads the queued request and answers it with `error`. */
  const answer = (error: number, delayMs = 0) => {
    const msg = kernel.read(12);
    assert.ok(Buffer.isBuffer(msg), `a request should be queued, got ${String(msg)}`);
    clock.advance(delayMs);
    return { msg, written: kernel.write(encodeLinuxAnswer(msg, error)) };
  };
  return { clock, events, kernel, answer, wakeups: () => wakeups };
}

test('registration: REGISTER1 is answered with a bare 4-byte 129, and the channel is ready only once it is read', async () => {
  const { kernel, clock } = setup({ register: false });
  assert.equal(kernel.open(10), 0);
  assert.equal(kernel.write(encodeRegister()), 12);
  assert.equal(kernel.state, 'device-init');
  assert.ok(kernel.readable());
  // Not read yet: a request fails at once.
  const early = await kernel.hostRequest(LinuxVssOp.FREEZE);
  assert.deepEqual([early.result, early.reason, early.status], ['fail', 'not-registered', '0x80004005']);
  const reply = kernel.read(12);
  assert.ok(Buffer.isBuffer(reply) && reply.length === 4);
  assert.equal(kernel.state, 'ready');
  const pending = kernel.hostRequest(LinuxVssOp.HOT_BACKUP);
  const msg = kernel.read(12);
  assert.ok(Buffer.isBuffer(msg));
  assert.deepEqual([...msg], [2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  clock.advance(1);
  kernel.write(encodeLinuxAnswer(msg, HV_S_OK));
  assert.equal((await pending).result, 'success');
});

test('legacy REGISTER is taken without a reply and leaves the channel not ready', async () => {
  const { kernel } = setup({ register: false });
  kernel.open(10);
  const reg = Buffer.alloc(12);
  reg[0] = VSS_OP_REGISTER;
  assert.equal(kernel.write(reg), 12);
  assert.equal(kernel.readable(), false);
  assert.equal((await kernel.hostRequest(LinuxVssOp.THAW)).reason, 'not-registered');
});

test('one opener: a second open gets EBUSY until the first closes', () => {
  const { kernel, events } = setup();
  assert.equal(kernel.open(11), 'EBUSY');
  assert.ok(events.some((e) => e.kind === 'open-busy' && e.pid === 11));
  kernel.release();
  assert.equal(kernel.open(11), 0);
  assert.equal(kernel.state, 'device-init');
});

test('writes of any size but 12 get EINVAL; reads with a short buffer get EINVAL and the message stays', () => {
  const { kernel } = setup();
  assert.equal(kernel.write(Buffer.alloc(11)), 'EINVAL');
  assert.equal(kernel.write(Buffer.alloc(13)), 'EINVAL');
  void kernel.hostRequest(LinuxVssOp.FREEZE);
  assert.equal(kernel.read(11), 'EINVAL');
  assert.ok(kernel.readable());
  const msg = kernel.read(64);
  assert.ok(Buffer.isBuffer(msg) && msg.length === 12 && msg[0] === LinuxVssOp.FREEZE);
  assert.equal(kernel.read(12), 'empty');
});

test('the host gets the error as written; flags become NO_AUTO_RECOVERY only when byte 0 of the answer is 2', async () => {
  const { kernel, answer } = setup();
  let pending = kernel.hostRequest(LinuxVssOp.HOT_BACKUP, 7);
  answer(HV_S_OK);
  let result = await pending;
  assert.deepEqual([result.result, result.reason, result.status, result.flags], ['success', 'ok', '0x00000000', 7]);
  pending = kernel.hostRequest(LinuxVssOp.HOT_BACKUP);
  answer(2); // error = 2: byte 0 is HOT_BACKUP
  result = await pending;
  assert.deepEqual([result.result, result.reason, result.status, result.flags], ['fail', 'agent-failed', '0x00000002', 5]);
  pending = kernel.hostRequest(LinuxVssOp.FREEZE);
  answer(HV_E_FAIL);
  result = await pending;
  assert.deepEqual([result.result, result.status, result.flags], ['fail', '0x80004005', 0]);
});

test('per-op limits: FREEZE 900 s, HOT_BACKUP and THAW 30 s; a late answer gets EINVAL', async () => {
  for (const [code, limit] of [[LinuxVssOp.FREEZE, 900_000], [LinuxVssOp.THAW, 30_000], [LinuxVssOp.HOT_BACKUP, 30_000]] as const) {
    const { kernel, clock, events } = setup();
    const pending = kernel.hostRequest(code);
    const msg = kernel.read(12);
    assert.ok(Buffer.isBuffer(msg));
    clock.advance(limit - 1);
    let settled = false;
    void pending.then(() => (settled = true));
    await Promise.resolve();
    assert.equal(settled, false, `op ${code} must still be waiting just before its limit`);
    clock.advance(1);
    const result = await pending;
    assert.deepEqual([result.result, result.reason, result.status], ['fail', 'timeout', '0x80004005']);
    clock.advance(5);
    assert.equal(kernel.write(encodeLinuxAnswer(msg, HV_S_OK)), 'EINVAL');
    const refused = events.find((e) => e.kind === 'refused-write');
    assert.ok(refused && refused.kind === 'refused-write' && refused.lateByMs === 5);
  }
});

test('the outbox holds one message: an unread request (timed out) makes the next fail at once, until it is read', async () => {
  const { kernel, clock, answer } = setup();
  const first = kernel.hostRequest(LinuxVssOp.THAW);
  clock.advance(30_000);
  assert.equal((await first).reason, 'timeout');
  assert.ok(kernel.readable(), 'the unread request stays queued');
  const second = await kernel.hostRequest(LinuxVssOp.HOT_BACKUP);
  assert.deepEqual([second.result, second.reason], ['fail', 'outbox-full']);
  // Reading the stale one frees the outbox; answering it is refused.
  const stale = kernel.read(12);
  assert.ok(Buffer.isBuffer(stale) && stale[0] === LinuxVssOp.THAW);
  assert.equal(kernel.write(encodeLinuxAnswer(stale, HV_S_OK)), 'EINVAL');
  const third = kernel.hostRequest(LinuxVssOp.HOT_BACKUP);
  answer(HV_S_OK);
  assert.equal((await third).result, 'success');
});

test('closing with a request in flight fails it at once; the channel needs a new registration', async () => {
  const { kernel, answer } = setup();
  const pending = kernel.hostRequest(LinuxVssOp.FREEZE);
  assert.ok(Buffer.isBuffer(kernel.read(12)));
  kernel.release();
  const result = await pending;
  assert.deepEqual([result.result, result.reason, result.status], ['fail', 'agent-closed', '0x80004005']);
  assert.equal(kernel.state, 'device-init');
  kernel.open(12);
  assert.equal((await kernel.hostRequest(LinuxVssOp.THAW)).reason, 'not-registered');
  kernel.write(encodeRegister());
  kernel.read(12);
  const thaw = kernel.hostRequest(LinuxVssOp.THAW);
  answer(HV_S_OK);
  assert.equal((await thaw).result, 'success');
});

test('host messages wait in the channel during a transaction and are processed in order after it', async () => {
  const { kernel, answer } = setup();
  const freeze = kernel.hostRequest(LinuxVssOp.FREEZE);
  const thaw = kernel.hostRequest(LinuxVssOp.THAW);
  const { msg } = answer(HV_S_OK);
  assert.equal(msg[0], LinuxVssOp.FREEZE);
  assert.equal((await freeze).result, 'success');
  const next = answer(HV_S_OK);
  assert.equal(next.msg[0], LinuxVssOp.THAW);
  assert.equal((await thaw).result, 'success');
});

test('registration during a transaction gets EINVAL; the kernel answers GET_DM_INFO and the other ops itself', async () => {
  const { kernel } = setup();
  void kernel.hostRequest(LinuxVssOp.FREEZE);
  assert.equal(kernel.write(encodeRegister()), 'EINVAL');
  kernel.release();
  const info = await kernel.hostRequest(LinuxVssOp.GET_DM_INFO, 9);
  assert.deepEqual([info.result, info.reason, info.flags], ['success', 'kernel', 0]);
});

test('hibernation: the request in flight is not answered, a fake THAW is queued, and its answer gets EINVAL', async () => {
  const { kernel } = setup();
  const freeze = kernel.hostRequest(LinuxVssOp.FREEZE);
  const msg = kernel.read(12);
  assert.ok(Buffer.isBuffer(msg));
  kernel.hibernate();
  assert.deepEqual([(await freeze).result, (await freeze).reason], ['unanswered', 'hibernated']);
  const thaw = kernel.read(12);
  assert.ok(Buffer.isBuffer(thaw) && thaw[0] === LinuxVssOp.THAW);
  assert.equal(kernel.write(encodeLinuxAnswer(thaw, HV_S_OK)), 'EINVAL');
});
