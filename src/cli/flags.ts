// Flags shared by the commands that open the device.
import { Flags } from '@oclif/core';
import { APP_DEVICE, KERNEL_TIMEOUT_MS } from '../protocol/hv-vss.ts';
import { defaultPaths, describeDefault, pidfileIn, socketIn } from '../daemon/paths.ts';

const paths = defaultPaths();

export const deviceFlag = Flags.string({
  summary: 'Application VSS device to register on.',
  env: 'HVVSS_DEVICE',
  default: APP_DEVICE,
  helpValue: 'PATH',
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

export const hooksDirFlag = Flags.string({
  summary: 'Directory of hook scripts.',
  env: 'HVVSS_HOOKS_DIR',
  default: paths.hooksDir,
  defaultHelp: async () => describeDefault((p) => p.hooksDir),
  helpValue: 'DIR',
});

export const stateDirFlag = Flags.string({
  summary: 'State directory: freeze journal, hooks lock, keeper socket.',
  env: 'HVVSS_STATE_DIR',
  default: paths.stateDir,
  defaultHelp: async () => describeDefault((p) => p.stateDir),
  helpValue: 'DIR',
});

export const socketFlag = Flags.string({
  summary: 'Root-only status socket of the daemon.',
  env: 'HVVSS_SOCKET',
  default: socketIn(paths.runDir),
  defaultHelp: async () => describeDefault((p) => socketIn(p.runDir)),
  helpValue: 'PATH',
});

export const pidfileFlag = Flags.string({
  summary: "The daemon's pidfile, locked while it runs.",
  default: pidfileIn(paths.runDir),
  defaultHelp: async () => describeDefault((p) => pidfileIn(p.runDir)),
  helpValue: 'PATH',
});
