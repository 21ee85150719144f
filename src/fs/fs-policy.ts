// The fs policy flags' values as a policy, without oclif (the status fast path reads them too),
// and the policy with the admin's policy file under them: flags win over the file.
import type { FsPolicy } from './mount-plan.ts';
import { DEFAULT_POLICY_FILE, readPolicyFile } from './policy-file.ts';

export interface FsPolicyFlagValues {
  readonly 'fs-include'?: string[] | undefined;
  readonly 'fs-skip'?: string[] | undefined;
  readonly 'fs-sync'?: string[] | undefined;
  readonly 'fs-remount-ro'?: string[] | undefined;
  readonly 'fs-skip-if-busy'?: string[] | undefined;
  readonly 'fs-sync-if-busy'?: string[] | undefined;
  readonly 'fs-policy'?: string | undefined;
}

export function fsPolicyFrom(flags: FsPolicyFlagValues): FsPolicy {
  return {
    include: flags['fs-include'] ?? [],
    skip: flags['fs-skip'] ?? [],
    sync: flags['fs-sync'] ?? [],
    ...(flags['fs-remount-ro']?.length ? { remountRo: flags['fs-remount-ro'] } : {}),
    ...(flags['fs-skip-if-busy']?.length ? { skipIfBusy: flags['fs-skip-if-busy'] } : {}),
    ...(flags['fs-sync-if-busy']?.length ? { syncIfBusy: flags['fs-sync-if-busy'] } : {}),
  };
}

/**
 * The flags' policy over the policy file's rules: --fs-policy FILE (which must exist), else the
 * default file when there is one. Throws a PolicyFileError naming the file, the line and the fix.
 */
export function loadFsPolicy(flags: FsPolicyFlagValues, trustedUids: readonly number[]): FsPolicy {
  const path = flags['fs-policy'] ?? DEFAULT_POLICY_FILE;
  const rules = readPolicyFile(path, { required: flags['fs-policy'] !== undefined, trustedUids });
  const policy = fsPolicyFrom(flags);
  return rules === undefined ? policy : { ...policy, rules, file: path };
}

/** The same for the commands that only show the plan (check --dry-run, status): the error as a value. */
export function tryLoadFsPolicy(flags: FsPolicyFlagValues, trustedUids: readonly number[]): FsPolicy | Error {
  try {
    return loadFsPolicy(flags, trustedUids);
  } catch (err) {
    return err as Error;
  }
}
