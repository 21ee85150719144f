// The fs policy flags' values as a policy, without oclif (the status fast path reads them too).
import type { FsPolicy } from './mount-plan.ts';

export interface FsPolicyFlagValues {
  readonly 'fs-include'?: string[] | undefined;
  readonly 'fs-skip'?: string[] | undefined;
  readonly 'fs-sync'?: string[] | undefined;
}

export function fsPolicyFrom(flags: FsPolicyFlagValues): FsPolicy {
  return { include: flags['fs-include'] ?? [], skip: flags['fs-skip'] ?? [], sync: flags['fs-sync'] ?? [] };
}
