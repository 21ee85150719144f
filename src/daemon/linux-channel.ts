// The daemon on Linux guests: which protocol it speaks, the Linux answer deadlines and their
// checks, and opening /dev/vmbus/hv_vss. Kept out of commands/daemon.ts, which only calls here.
//
// On Linux there is one channel for everything: the kernel hands HOT_BACKUP, FREEZE and THAW to
// the one agent that has /dev/vmbus/hv_vss open, and nobody else freezes the file systems (the
// distribution's hv_vss_daemon cannot run beside it). So on the Linux protocol the fs stage is
// always on: FREEZE runs the freeze hooks, then FIFREEZE on the mount plan (last); THAW runs
// FITHAW first, then the thaw hooks in reverse; HOT_BACKUP checks the hooks and the plan.
// The device module (koffi) is imported when a channel opens: the fast entry of "hvvss daemon"
// reads the constants here before it knows which device it needs.
import type { LinuxVssDevice, LinuxDeviceEvent } from '../native/linux-vss-device.ts';
import { LINUX_DEVICE, LINUX_FREEZE_TIMEOUT_MS, LINUX_UTIL_TIMEOUT_MS, protocolOfDevice } from '../protocol/linux-vss.ts';
import { APP_DEVICE } from '../protocol/hv-vss.ts';
import type { AgentLogger } from '../log/logger.ts';

export type Protocol = 'freebsd' | 'linux';
export const PROTOCOLS: readonly Protocol[] = ['freebsd', 'linux'];

/** FREEZE's answer deadline on Linux when --freeze-timeout is not given, in seconds. */
export const DEFAULT_FREEZE_TIMEOUT_S = 30;

/** The device a protocol registers on by default. */
export function defaultDevice(os: string = process.platform): string {
  return os === 'linux' ? LINUX_DEVICE : APP_DEVICE;
}

/**
 * --protocol when given; else the device's name (hv_vss: Linux; hv_appvss_dev, hv_fsvss_dev:
 * FreeBSD); else the OS the daemon runs on.
 */
export function resolveProtocol(flag: string | undefined, device: string, os: string = process.platform): Protocol {
  if (flag === 'linux' || flag === 'freebsd') return flag;
  return protocolOfDevice(device) ?? (os === 'linux' ? 'linux' : 'freebsd');
}

export interface LinuxDeadlines {
  /** HOT_BACKUP and THAW are answered within this long after the read (the kernel allows 30 s). */
  readonly requestTimeoutMs: number;
  /** FREEZE is answered within this long after the read (the kernel allows 900 s). */
  readonly freezeTimeoutMs: number;
  readonly maxFrozenMs: number;
}

/** Why these deadlines cannot work, with the flag to change; undefined when they can. */
export function linuxDeadlineProblem(d: LinuxDeadlines): string | undefined {
  if (d.requestTimeoutMs >= LINUX_UTIL_TIMEOUT_MS) {
    return `--timeout ${d.requestTimeoutMs / 1000} must be below Linux's ${LINUX_UTIL_TIMEOUT_MS / 1000} s limit for HOT_BACKUP and THAW; the default is 10`;
  }
  if (d.freezeTimeoutMs >= LINUX_FREEZE_TIMEOUT_MS) {
    return `--freeze-timeout ${d.freezeTimeoutMs / 1000} must be below Linux's ${LINUX_FREEZE_TIMEOUT_MS / 1000} s limit for FREEZE; the default is ${DEFAULT_FREEZE_TIMEOUT_S}`;
  }
  if (d.freezeTimeoutMs >= d.maxFrozenMs) {
    // The watchdog is armed before the first freeze hook: a freeze answered after it fired
    // would tell the host "frozen" about file systems already thawed.
    return `--freeze-timeout ${d.freezeTimeoutMs / 1000} must be shorter than --max-frozen ${d.maxFrozenMs / 1000}: the watchdog counts from the start of the freeze`;
  }
  return undefined;
}

/** Opens and registers on the Linux device; its events go to the log. */
export async function openLinuxChannel(path: string, deadlines: LinuxDeadlines, log: AgentLogger): Promise<LinuxVssDevice> {
  const { LinuxVssDevice } = await import('../native/linux-vss-device.ts');
  const onEvent = (event: LinuxDeviceEvent) => {
    if (event.kind === 'reregistered') log.warn(`${path}: ${event.why}; closed it and registered again (as hv_vss_daemon does)`);
    else if (event.kind === 'registered') log.debug(`${path}: registered, kernel protocol version ${event.version}`);
    else if (event.kind === 'poll-retry') log.debug(`poll interrupted (${event.code}): polling again`);
  };
  return LinuxVssDevice.open(path, { answerWithinMs: deadlines.requestTimeoutMs, freezeAnswerWithinMs: deadlines.freezeTimeoutMs, onEvent });
}
