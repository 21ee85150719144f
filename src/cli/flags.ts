// Flags shared by the commands that open the device.
import { Flags } from '@oclif/core';
import { resolve } from 'node:path';
import { APP_DEVICE, KERNEL_TIMEOUT_MS } from '../protocol/hv-vss.ts';
import { LINUX_DEVICE } from '../protocol/linux-vss.ts';
import { defaultPaths, describeDefault, pidfileIn, socketIn, type DaemonPaths } from '../state/paths.ts';

/**
 * Paths are made absolute as they are parsed (from the flag or its environment variable): the
 * freeze keeper runs from /, and the daemon reports its paths to "hvvss status" run elsewhere.
 */
const absolute = async (input: string): Promise<string> => resolve(input);

export const deviceFlag = Flags.string({
  summary: 'Application VSS device to register on.',
  env: 'HVVSS_DEVICE',
  // Linux guests have one VSS channel, /dev/vmbus/hv_vss (src/daemon/linux-channel.ts).
  default: process.platform === 'linux' ? LINUX_DEVICE : APP_DEVICE,
  defaultHelp: async () => `${APP_DEVICE} on FreeBSD, ${LINUX_DEVICE} on Linux`,
  helpValue: 'PATH',
  parse: absolute,
});

export const kernelTimeoutFlag = Flags.custom<number>({
  summary: "The kernel's limit for a whole transaction, in seconds (15 on FreeBSD; lower only against the emulator).",
  env: 'HVVSS_KERNEL_TIMEOUT',
  default: KERNEL_TIMEOUT_MS / 1000,
  helpValue: 'SECONDS',
  parse: async (input) => positiveSeconds('--kernel-timeout', input),
})();

export function positiveSeconds(flag: string, input: string): number {
  const value = Number(input);
  if (input.trim() === '' || !Number.isFinite(value) || value < 0) {
    throw new Error(`${flag} takes a number of seconds (e.g. 2 or 0.5); got ${JSON.stringify(input)}`);
  }
  return value;
}

/** A duration flag in seconds (fractions allowed). */
export const secondsFlag = (summary: string, defaultValue: number) =>
  Flags.custom<number>({
    summary,
    default: defaultValue,
    helpValue: 'SECONDS',
    parse: async (input, _ctx, opts) => positiveSeconds(`--${opts.name}`, input),
  })();

/**
 * A path flag whose default depends on the OS: the value is this machine's, the help text names
 * both (the manifest is built once, on Linux, and shipped).
 */
const pathFlag = (summary: string, helpValue: string, pick: (p: DaemonPaths) => string, env?: string) =>
  Flags.string({
    summary,
    ...(env ? { env } : {}),
    default: pick(defaultPaths()),
    defaultHelp: async () => describeDefault(pick),
    helpValue,
    parse: absolute,
  });

export const hooksDirFlag = pathFlag('Directory of hook scripts.', 'DIR', (p) => p.hooksDir, 'HVVSS_HOOKS_DIR');
export const stateDirFlag = pathFlag('State directory: freeze journal, hooks lock, keeper socket.', 'DIR', (p) => p.stateDir, 'HVVSS_STATE_DIR');
export const socketFlag = pathFlag('Root-only socket of the daemon: hvvss status reads it, and check, freeze and thaw have the daemon run the hooks through it when it runs.', 'PATH', (p) => socketIn(p.runDir), 'HVVSS_SOCKET');
export const pidfileFlag = pathFlag("The daemon's pidfile, locked while it runs.", 'PATH', (p) => pidfileIn(p.runDir), 'HVVSS_PIDFILE');
