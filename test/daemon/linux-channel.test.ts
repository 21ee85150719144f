import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultDevice, linuxDeadlineProblem, resolveProtocol } from '../../src/daemon/linux-channel.ts';

test('the protocol: --protocol first, then the device name, then the OS', () => {
  assert.equal(resolveProtocol('freebsd', '/dev/vmbus/hv_vss', 'linux'), 'freebsd');
  assert.equal(resolveProtocol(undefined, '/tmp/emu/dev/vmbus/hv_vss', 'freebsd'), 'linux');
  assert.equal(resolveProtocol(undefined, '/tmp/emu/dev/hv_appvss_dev', 'linux'), 'freebsd');
  assert.equal(resolveProtocol(undefined, '/tmp/emu/dev/hv_fsvss_dev', 'linux'), 'freebsd');
  assert.equal(resolveProtocol(undefined, '/somewhere/else', 'linux'), 'linux');
  assert.equal(resolveProtocol(undefined, '/somewhere/else', 'freebsd'), 'freebsd');
  assert.equal(defaultDevice('linux'), '/dev/vmbus/hv_vss');
  assert.equal(defaultDevice('freebsd'), '/dev/hv_appvss_dev');
});

test('Linux deadlines: below the kernel\'s 30 s and 900 s, and FREEZE answered before the watchdog can fire', () => {
  assert.equal(linuxDeadlineProblem({ requestTimeoutMs: 10_000, freezeTimeoutMs: 30_000, maxFrozenMs: 60_000 }), undefined);
  assert.match(linuxDeadlineProblem({ requestTimeoutMs: 30_000, freezeTimeoutMs: 30_000, maxFrozenMs: 60_000 }) ?? '', /--timeout 30 must be below Linux's 30 s/);
  assert.match(linuxDeadlineProblem({ requestTimeoutMs: 10_000, freezeTimeoutMs: 900_000, maxFrozenMs: 1_000_000 }) ?? '', /--freeze-timeout 900 must be below Linux's 900 s/);
  assert.match(linuxDeadlineProblem({ requestTimeoutMs: 10_000, freezeTimeoutMs: 60_000, maxFrozenMs: 60_000 }) ?? '', /shorter than --max-frozen 60/);
});
