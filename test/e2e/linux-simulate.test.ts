// hvvss simulate on the Linux protocol against the emulated /dev/vmbus/hv_vss: -c, -f and -t
// answer HOT_BACKUP, FREEZE and THAW; a timeout outcome answers after that op's limit, the
// kernel refuses it (EINVAL), and the simulator registers again before the next request.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startLinuxEmulator, type RunningLinuxEmulator } from '../../src/emulator/host-client.ts';
import { flat, hvvss, hvvssRun, within } from '../support/process.ts';

// --kernel-timeout replaces both Linux limits; the emulator is given the same ones.
const LIMIT_S = 1;
let emu: RunningLinuxEmulator;
before(async () => {
  emu = await startLinuxEmulator({ limits: { freezeMs: LIMIT_S * 1000, otherMs: LIMIT_S * 1000 } });
});
after(async () => {
  await emu?.stop();
});

const OPS = ['hot-backup', 'freeze', 'thaw'] as const;

async function simulate(outcome: string) {
  const proc = hvvss(['simulate', '-n', '--device', emu.device, '--kernel-timeout', String(LIMIT_S), '--wait', '0.05', '-c', outcome, '-f', outcome, '-t', outcome]);
  await proc.waitForLine(/registered on /);
  return proc;
}

test('-c 0 -f 0 -t 0: every op succeeds; HOT_BACKUP leaves the host\'s flags', async () => {
  const proc = await simulate('0');
  try {
    for (const op of OPS) {
      const r = await emu.host.linuxRequest(op);
      assert.deepEqual([r.result, r.status, r.flags], ['success', '0x00000000', 0], `${op}: ${JSON.stringify(r)}\n${proc.output}`);
    }
    await proc.waitForLine(/sent success for thaw/);
    assert.match(proc.output, /received check[^]*received freeze[^]*received thaw/);
  } finally {
    assert.equal((await proc.stop('SIGTERM')).code, 0);
  }
});

test('-c 2 -f 2 -t 2: every op fails at once with HV_E_FAIL', async () => {
  const proc = await simulate('2');
  try {
    for (const op of OPS) {
      const r = await emu.host.linuxRequest(op);
      assert.deepEqual([r.result, r.reason, r.status], ['fail', 'agent-failed', '0x80004005'], `${op}: ${JSON.stringify(r)}`);
    }
  } finally {
    await proc.stop('SIGTERM');
  }
});

test('-c 1 -f 1 -t 1: every op times out, the late answer is refused, and the simulator registers again', async () => {
  const proc = await simulate('1');
  try {
    for (const op of OPS) {
      const start = (await emu.host.events()).at(-1)?.seq ?? 0;
      const r = await emu.host.linuxRequest(op);
      assert.deepEqual([r.result, r.reason], ['fail', 'timeout'], `${op}: ${JSON.stringify(r)}`);
      assert.ok(r.totalMs >= LIMIT_S * 1000 - 1);
      const refused = await emu.host.waitForLinuxEvent((e) => e.kind === 'refused-write' && e.seq > start);
      await emu.host.waitForLinuxEvent((e) => e.kind === 'ready' && e.seq > refused.seq);
    }
    await within(proc.waitForLine(/sent success for thaw .*LATE, refused by the kernel \(EINVAL\)/), 10_000, 'the refused THAW answer');
    assert.equal(proc.output.match(/LATE, refused by the kernel/g)?.length, 3, proc.output);
    // Registered again after each refusal (the emulator saw each new registration's reply read).
    assert.equal(proc.output.match(/registering again/g)?.length, 3, proc.output);
  } finally {
    await proc.stop('SIGTERM');
  }
});

test('a missing Linux device is explained: hv_utils, the integration service, and --device for an emulator', async () => {
  const run = await hvvssRun(['simulate', '-n', '--device', `${emu.dir}/no-such-dir/hv_vss`]);
  assert.equal(run.code, 1, run.output);
  assert.match(flat(run.output), /hv_vss does not exist: the hv_utils driver has not created it .*"Backup \(volume shadow copy\)" integration service/);
});

test('a non-root agent is told to run as root (the device is root:root 0600)', async () => {
  const run = await hvvssRun(['simulate', '-n', '--device', emu.device], { uid: 65534, gid: 65534 });
  assert.equal(run.code, 1, run.output);
  assert.match(flat(run.output), /permission denied opening .*hv_vss: it is root's \(0600\)\. Run hvvss as root/);
});
