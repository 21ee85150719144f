// The admin's file-system policy as command-line flags, shared by "hvvss daemon", "hvvss check"
// and "hvvss status" so the plan they show is the one the daemon follows.
import { Flags } from '@oclif/core';
import { resolve } from 'node:path';

// Mount points are compared exactly: "/var/" and "var" (from /) both mean "/var".
const mountPoint = async (input: string): Promise<string> => resolve(input);

const pathFlag = (summary: string, dependsOn: string[] | undefined) =>
  Flags.string({ summary, multiple: true, helpValue: 'PATH', parse: mountPoint, ...(dependsOn ? { dependsOn } : {}) });

/** The policy flags; the daemon's depend on --fs-role (without it they would mean nothing). */
export function fsPolicyFlagsFor(dependsOn?: string[]) {
  return {
    'fs-include': pathFlag('Plan only this mount point (repeatable); every other mount is skipped.', dependsOn),
    'fs-skip': pathFlag('Leave this writable mount point out of the freeze (repeatable).', dependsOn),
    'fs-sync': pathFlag('Flush this writable mount point at freeze without holding it (repeatable).', dependsOn),
    'fs-remount-ro': pathFlag('Remount this writable mount point read-only for the freeze, read-write at thaw; a file open for writing on it fails the freeze (repeatable).', dependsOn),
    'fs-skip-if-busy': pathFlag('Remount this mount point read-only for the freeze, or leave it out while a file on it is open for writing (repeatable).', dependsOn),
    'fs-sync-if-busy': pathFlag('Remount this mount point read-only for the freeze, or only flush it while a file on it is open for writing (repeatable).', dependsOn),
    'fs-policy': Flags.string({
      summary: `The fs policy file, "MOUNTPOINT ACTION" per line; the flags above win over it. Default, if it exists: /usr/local/etc/hvvss/fs-policy on FreeBSD, /etc/hvvss/fs-policy on Linux.`,
      helpValue: 'FILE',
      parse: async (input: string) => resolve(input),
      ...(dependsOn ? { dependsOn } : {}),
    }),
  };
}

export const fsPolicyFlags = fsPolicyFlagsFor();

export { fsPolicyFrom, loadFsPolicy, tryLoadFsPolicy, type FsPolicyFlagValues } from './fs-policy.ts';
