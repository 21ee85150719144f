// hvvss simulate as a separate process against the emulated kernel, through the real
// open/poll/ioctl path.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { emulatorPerFile } from '../support/emulator.ts';
import { flat, hvvss, hvvssRun, within } from '../support/process.ts';
import type { HostResult } from '../../src/emulator/vss-kernel.ts';

// A shortened kernel limit keeps the timeout cases quick; the rules are the same at 15 s.
const KERNEL_TIMEOUT_S = 1;
const WAIT_S = 0.05;

const emu = emulatorPerFile({ timeoutMs: KERNEL_TIMEOUT_S * 1000 });

function simulate(extra: string[]) {
  return hvvss(['simulate', '-n', '--device', emu.appDevice, '--kernel-timeout', String(KERNEL_TIMEOUT_S), '--wait', String(WAIT_S), ...extra]);
}

async function registered(proc: ReturnType<typeof simulate>) {
  await proc.waitForLine(/registered on /);
}

describe('every op x outcome gives the host result the kernel rules predict', () => {
  const ops = ['check', 'freeze', 'thaw'] as const;
  const cases: Array<[string, (op: (typeof ops)[number], r: HostResult) => void]> = [
    ['0', (op, r) => {
      assert.equal(r.result, 'success', `${op}: ${JSON.stringify(r)}`);
      assert.deepEqual(r.stages.map((s) => s.side), op === 'thaw' ? ['fs', 'app'] : ['app', 'fs']);
      assert.equal(r.flags, op === 'check' ? 5 : undefined);
    }],
    ['1', (op, r) => {
      assert.equal(r.result, 'fail', `${op}: ${JSON.stringify(r)}`);
      assert.equal(r.reason, 'timeout');
      assert.equal(r.timedOutIn, 'app');
      // Timed out at the kernel's limit, not before (within the 1 ms granularity of Node's timers).
      assert.ok(r.totalMs >= KERNEL_TIMEOUT_S * 1000 - 1, `${op} failed after ${r.totalMs} ms`);
    }],
    ['2', (op, r) => {
      assert.equal(r.result, 'fail', `${op}: ${JSON.stringify(r)}`);
      assert.equal(r.reason, 'app-failed');
      assert.ok(r.totalMs < KERNEL_TIMEOUT_S * 1000);
    }],
  ];
  for (const [outcome, expect] of cases) {
    test(`-c ${outcome} -f ${outcome} -t ${outcome}`, async () => {
      const proc = simulate(['-c', outcome, '-f', outcome, '-t', outcome]);
      try {
        await registered(proc);
        for (const op of ops) {
          const result = await emu.host.request(op);
          expect(op, result);
          if (outcome === '1') {
            // The late answer reaches the kernel after the timeout: ignored, and visible as stale.
            const stale = await emu.host.waitForEvent((e) => e.kind === 'stale-write' && e.msgid === result.msgid);
            assert.equal(stale.kind === 'stale-write' && stale.side, 'app');
            await proc.waitForLine(new RegExp(`sent success for ${op} \\(msgid ${result.msgid}\\).*LATE`));
          } else {
            await proc.waitForLine(new RegExp(`sent ${outcome === '0' ? 'success' : 'fail'} for ${op} \\(msgid ${result.msgid}\\)`));
          }
        }
      } finally {
        const exit = await proc.stop();
        assert.equal(exit.code, 0, proc.output);
      }
    });
  }
});

test('a second agent gets a clear "busy" error and the first keeps working', async () => {
  const first = simulate([]);
  try {
    await registered(first);
    const second = await hvvssRun(['simulate', '-n', '--device', emu.appDevice]);
    assert.equal(second.code, 1);
    assert.match(flat(second.output), /is busy: another application agent has it open/);
    assert.equal((await emu.host.request('check')).result, 'success');
  } finally {
    await first.stop();
  }
});

test('a missing device is explained, in the foreground and when detaching', async () => {
  for (const extra of [['-n'], []]) {
    // Named like the FreeBSD device: a name that says nothing would mean Linux's protocol here.
    const run = await hvvssRun(['simulate', ...extra, '--device', `${emu.dir}/no-such-dir/hv_appvss_dev`]);
    assert.equal(run.code, 1, run.output);
    assert.match(flat(run.output), /no-such-dir\/hv_appvss_dev does not exist: the hv_vss\(4\) driver is not present/);
  }
});

test('a non-root agent is told to run as root', async () => {
  const run = await hvvssRun(['simulate', '-n', '--device', emu.appDevice], { uid: 65534, gid: 65534 });
  assert.equal(run.code, 1, run.output);
  assert.match(flat(run.output), /permission denied opening .*: .*Run hvvss as root/);
});

test('without -n it detaches, registers, and the parent returns at once', async () => {
  const run = await hvvssRun(['simulate', '--device', emu.appDevice, '--wait', '0']);
  assert.equal(run.code, 0, run.output);
  const pid = Number(/as pid (\d+)/.exec(run.output)?.[1]);
  assert.ok(pid > 0, run.output);
  try {
    assert.equal((await emu.host.request('freeze')).result, 'success');
  } finally {
    process.kill(pid, 'SIGTERM');
    await emu.host.waitForEvent((e) => e.kind === 'release' && e.side === 'app' && e.seq > 0);
  }
  // Unregistered on SIGTERM: the device can be opened again.
  const again = simulate([]);
  await within(registered(again), 10_000, 'a new agent to register');
  await again.stop();
});

test('wrong flag values are refused with a clear message', async () => {
  const run = await hvvssRun(['simulate', '-f', '7']);
  assert.equal(run.code, 2, 'bad usage exits 2');
  assert.match(flat(run.stderr), /Error: -f takes 0 \(success\), 1 \(timeout: answer after the kernel's limit\) or 2 \(failure\); got "7"/);
  assert.doesNotMatch(run.stderr, /Parsing|\t/, 'our message alone, without oclif\'s "Parsing --flag" and tab');
  const wait = await hvvssRun(['simulate', '--wait', 'soon']);
  assert.equal(wait.code, 2);
  assert.match(flat(wait.stderr), /Error: --wait takes a number of seconds/);
});

test('-h prints the usage and exits 0; --help lists the commands', async () => {
  const usage = await hvvssRun(['simulate', '-h']);
  assert.equal(usage.code, 0);
  for (const flag of ['-c, --check=0|1|2', '-f, --freeze=0|1|2', '-t, --thaw=0|1|2', '-d, --debug', '-n, --foreground', '--wait=SECONDS', '--device=PATH']) {
    assert.ok(usage.stdout.includes(flag), `usage lacks ${flag}:\n${usage.stdout}`);
  }
  const help = await hvvssRun(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /simulate\s+Answer the host's VSS requests/);
  assert.match(help.stdout, /daemon\s+Register as the application VSS agent/);
});
