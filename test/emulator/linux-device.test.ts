// The Linux channel through real syscalls: LinuxVssDevice (koffi open/read/write/poll) and raw
// node:fs calls against the emulator's FUSE file DIR/dev/vmbus/hv_vss.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { within } from '../support/process.ts';
import { until } from '../admin/databases.ts';
import { startLinuxEmulator, type RunningLinuxEmulator } from '../../src/emulator/host-client.ts';
import { LinuxVssDevice, type LinuxDeviceEvent } from '../../src/native/linux-vss-device.ts';
import { VssDeviceError } from '../../src/native/vss-device.ts';

// HOT_BACKUP and THAW get 1 s here, so that timeouts can be waited for; FREEZE keeps 60 s.
const LIMITS = { otherMs: 1_000, freezeMs: 60_000 };
let emu: RunningLinuxEmulator;
before(async () => {
  emu = await startLinuxEmulator({ limits: LIMITS });
});
after(async () => {
  await emu?.stop();
});

function readAsync(fd: number, size: number): Promise<Buffer> {
  const buf = Buffer.alloc(size);
  return new Promise((resolve, reject) => fs.read(fd, buf, 0, size, null, (err, n) => (err ? reject(err) : resolve(buf.subarray(0, n)))));
}

function writeAsync(fd: number, data: Buffer): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, data, 0, data.length, null, (err, n) => (err ? reject(err) : resolve(n))));
}

function closeAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve())));
}

test('register, then HOT_BACKUP/FREEZE/THAW are read as check/freeze/thaw and answered; the host gets the status', async () => {
  const device = await LinuxVssDevice.open(emu.device);
  try {
    assert.equal(device.kernelVersion, 129);
    for (const [op, agentOp] of [['hot-backup', 'check'], ['freeze', 'freeze'], ['thaw', 'thaw']] as const) {
      const result = emu.host.linuxRequest(op);
      const request = await device.nextRequest();
      assert.equal(request?.op, agentOp);
      device.answer(request!, op === 'thaw' ? 'fail' : 'success');
      const host = await result;
      assert.deepEqual([host.result, host.status, host.flags], op === 'thaw' ? ['fail', '0x80004005', 0] : ['success', '0x00000000', 0]);
    }
  } finally {
    await device.close();
  }
});

test('a second opener gets EBUSY, and the message names the distributions\' services and how to disable them', async () => {
  const device = await LinuxVssDevice.open(emu.device);
  try {
    await assert.rejects(LinuxVssDevice.open(emu.device), (err: unknown) => {
      assert.ok(err instanceof VssDeviceError);
      assert.equal(err.code, 'EBUSY');
      assert.match(err.message, /hv-vss-daemon\.service/);
      assert.match(err.message, /hypervvssd\.service/);
      assert.match(err.message, /systemctl disable --now/);
      return true;
    });
  } finally {
    await device.close();
  }
});

test('raw syscalls: writes of other sizes get EINVAL, a short read buffer gets EINVAL and the message stays, read blocks until a request', async () => {
  const fd = fs.openSync(emu.device, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  try {
    await assert.rejects(writeAsync(fd, Buffer.alloc(8)), { code: 'EINVAL' });
    await assert.rejects(writeAsync(fd, Buffer.alloc(16)), { code: 'EINVAL' });
    const register = Buffer.alloc(12);
    register[0] = 129;
    assert.equal(await writeAsync(fd, register), 12);
    await assert.rejects(readAsync(fd, 3), { code: 'EINVAL' });
    const reply = await readAsync(fd, 12);
    assert.deepEqual([...reply], [129, 0, 0, 0]);
    // Blocks even with O_NONBLOCK, until the host sends something.
    const blocked = readAsync(fd, 64);
    await emu.host.waitForLinuxEvent((e) => e.kind === 'ready');
    const result = emu.host.linuxRequest('freeze');
    const request = await blocked;
    assert.deepEqual([...request], [5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const answer = Buffer.from(request);
    answer.writeUInt32LE(0, 0);
    assert.equal(await writeAsync(fd, answer), 12);
    assert.equal((await result).result, 'success');
  } finally {
    await closeAsync(fd);
  }
});

test('a late answer is refused (EINVAL) and the device registers again before the next request', async () => {
  const events: LinuxDeviceEvent[] = [];
  // Only this test's emulator events count (earlier tests refused writes and registered too).
  const start = (await emu.host.events()).at(-1)?.seq ?? 0;
  const device = await LinuxVssDevice.open(emu.device, { onEvent: (e) => events.push(e) });
  try {
    const result = emu.host.linuxRequest('thaw');
    const request = await device.nextRequest();
    assert.equal((await result).reason, 'timeout');
    assert.throws(() => device.answer(request!, 'success'), (err: unknown) => err instanceof VssDeviceError && err.code === 'EINVAL' && /Registering again/.test(err.message));
    const refused = await emu.host.waitForLinuxEvent((e) => e.kind === 'refused-write' && e.seq > start);
    const next = device.nextRequest();
    // The kernel fails requests at once until the new registration's reply is read.
    await emu.host.waitForLinuxEvent((e) => e.kind === 'ready' && e.seq > refused.seq);
    const backup = emu.host.linuxRequest('hot-backup');
    const again = await next;
    assert.equal(again?.op, 'check');
    assert.ok(events.some((e) => e.kind === 'reregistered'));
    device.answer(again!, 'success');
    assert.equal((await backup).result, 'success');
  } finally {
    await device.close();
  }
});

test('an unread request blocks the next one (outbox-full) until it is read; closing with a request in flight fails it at once', async () => {
  const device = await LinuxVssDevice.open(emu.device);
  try {
    assert.equal((await emu.host.linuxRequest('thaw')).reason, 'timeout');
    assert.equal((await emu.host.linuxRequest('hot-backup')).reason, 'outbox-full');
    const stale = await device.nextRequest();
    assert.equal(stale?.op, 'thaw');
    const freeze = emu.host.linuxRequest('freeze');
    await emu.host.waitForLinuxEvent((e) => e.kind === 'queued' && e.op === 'FREEZE');
    await device.close();
    const host = await freeze;
    assert.deepEqual([host.result, host.reason], ['fail', 'agent-closed']);
  } finally {
    await device.close();
  }
});

test('a reader blocked in read(2) and killed dies at once (FUSE INTERRUPT answered EINTR), and its close unregisters', async () => {
  const script = [
    'exec 3<>"$1"',
    // REGISTER1 (0o201 = 129) in one 12-byte write, then the 4-byte reply.
    "printf '\\201\\000\\000\\000\\000\\000\\000\\000\\000\\000\\000\\000' >&3",
    'dd bs=12 count=1 <&3 of=/dev/null 2>/dev/null',
    'echo registered',
    // Nothing is queued: this read blocks in the emulator.
    'exec dd bs=12 count=1 <&3 of=/dev/null 2>/dev/null',
  ].join('\n');
  const start = (await emu.host.events()).at(-1)?.seq ?? 0;
  const child = spawn('/bin/sh', ['-c', script, 'sh', emu.device], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  await new Promise<void>((resolve) => child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('registered') && resolve()));
  await emu.host.waitForLinuxEvent((e) => e.kind === 'ready' && e.seq > start);
  // Blocked: sleeping in the kernel's FUSE wait.
  await until(() => stateOf(child.pid!) === 'S' && commOf(child.pid!) === 'dd', 10_000, 'dd to block in read');
  child.kill('SIGKILL');
  assert.deepEqual(await within(exited, 10_000, 'the killed reader to exit'), { code: null, signal: 'SIGKILL' });
  await emu.host.waitForLinuxEvent((e) => e.kind === 'release' && e.seq > start);
  assert.equal((await emu.host.linuxRequest('thaw')).reason, 'not-registered');
});

function stateOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

function commOf(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}
