import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { mayOpen } from '../../src/emulator/device-permission.ts';
import { callerProcess, stillRunning } from '../../src/emulator/caller-process.ts';

const DEVICE = { mode: 0o640, uid: 0, gid: 0 };
const { O_RDONLY, O_WRONLY, O_RDWR } = constants;

test('root:wheel 0640: root for anything, wheel read-only (primary or supplementary group), nobody else', () => {
  for (const flags of [O_RDONLY, O_WRONLY, O_RDWR]) assert.ok(mayOpen(DEVICE, { uid: 0, gid: 5, groups: [] }, flags));
  assert.ok(mayOpen(DEVICE, { uid: 1000, gid: 0, groups: [] }, O_RDONLY));
  assert.ok(mayOpen(DEVICE, { uid: 1000, gid: 1000, groups: [0] }, O_RDONLY));
  assert.ok(!mayOpen(DEVICE, { uid: 1000, gid: 1000, groups: [0] }, O_RDWR));
  assert.ok(!mayOpen(DEVICE, { uid: 1000, gid: 0, groups: [] }, O_WRONLY));
  assert.ok(!mayOpen(DEVICE, { uid: 1000, gid: 1000, groups: [100] }, O_RDONLY));
});

test('the caller process comes from /proc and is recognised while it runs', () => {
  const me = callerProcess(process.pid);
  assert.ok(me);
  assert.equal(me.pid, process.pid);
  assert.ok(stillRunning(me));
  assert.ok(!stillRunning({ ...me, startTicks: '1' }), 'another process with the same pid is not the opener');
  assert.equal(callerProcess(2 ** 22 + 1), undefined);
});
