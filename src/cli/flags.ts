// Flags shared by the commands that open the device.
import { Flags } from '@oclif/core';
import { APP_DEVICE, KERNEL_TIMEOUT_MS } from '../protocol/hv-vss.ts';

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
