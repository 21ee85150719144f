// The admin's file-system policy as command-line flags, shared by "hvvss daemon", "hvvss check"
// and "hvvss status" so the plan they show is the one the daemon follows.
import { Flags } from '@oclif/core';
import { resolve } from 'node:path';
import type { FsPolicy } from './mount-plan.ts';

// Mount points are compared exactly: "/var/" and "var" (from /) both mean "/var".
const mountPoint = async (input: string): Promise<string> => resolve(input);

export const fsPolicyFlags = {
  'fs-include': Flags.string({
    summary: 'Plan only this mount point (repeatable); the others are skipped. Tests always use it.',
    multiple: true,
    helpValue: 'PATH',
    parse: mountPoint,
  }),
  'fs-skip': Flags.string({
    summary: 'Leave this writable mount point out of the freeze (repeatable).',
    multiple: true,
    helpValue: 'PATH',
    parse: mountPoint,
  }),
  'fs-sync': Flags.string({
    summary: 'Flush this writable mount point at freeze without holding it (repeatable).',
    multiple: true,
    helpValue: 'PATH',
    parse: mountPoint,
  }),
};

export interface FsPolicyFlagValues {
  readonly 'fs-include'?: string[] | undefined;
  readonly 'fs-skip'?: string[] | undefined;
  readonly 'fs-sync'?: string[] | undefined;
}

export function fsPolicyFrom(flags: FsPolicyFlagValues): FsPolicy {
  return { include: flags['fs-include'] ?? [], skip: flags['fs-skip'] ?? [], sync: flags['fs-sync'] ?? [] };
}
