// A stand-in for FreeBSD's hv_vss_daemon(8) on the emulated fs device: it answers every request
// with one outcome (success, failure, or late: after the kernel's limit) at once. It is the
// same answering loop as `hvvss simulate`, run as its own process (a process must never make
// syscalls on files its own event loop serves, so it cannot live inside the emulator).
import { parseArgs } from 'node:util';
import { VssDevice } from '../native/vss-device.ts';
import { AgentLogger, streamSink } from '../log/logger.ts';
import { OUTCOMES, runSimulator, type Outcome } from '../simulate/simulator.ts';
import { systemClock } from '../util/clock.ts';

export type FsDaemonMode = 'success' | 'fail' | 'late';
export const FS_DAEMON_MODES: readonly FsDaemonMode[] = ['success', 'fail', 'late'];

const OUTCOME_OF: Record<FsDaemonMode, Outcome> = { success: OUTCOMES.success, fail: OUTCOMES.failure, late: OUTCOMES.timeout };

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { device: { type: 'string' }, mode: { type: 'string', default: 'success' }, 'kernel-timeout-ms': { type: 'string', default: '15000' } },
  });
  const mode = values.mode as FsDaemonMode;
  if (!values.device || !FS_DAEMON_MODES.includes(mode)) throw new Error('usage: fs-daemon-standin --device PATH --mode success|fail|late');
  const log = new AgentLogger(streamSink(process.stderr), { debug: false });
  const device = VssDevice.open(values.device, { kernelTimeoutMs: Number(values['kernel-timeout-ms']) });
  const stop = new AbortController();
  process.on('SIGTERM', () => {
    stop.abort();
    void device.close();
  });
  process.stdout.write('registered\n');
  const outcome = OUTCOME_OF[mode];
  await runSimulator(device, {
    outcomes: { check: outcome, freeze: outcome, thaw: outcome },
    waitMs: 0,
    clock: systemClock,
    log,
    signal: stop.signal,
  });
  await device.close();
}

if (import.meta.main) {
  main().catch((err: unknown) => {
    process.stderr.write(`fs-daemon stand-in: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
