// The file-system diagnosis shown by "hvvss check --dry-run" and "hvvss status": the mount plan
// the fs role would follow, and what the OS's own hv_vss_daemon does with the same mounts. It
// reads the mount table and nothing else, so it works while hv_vss_daemon holds the fs device.
import { fsDaemonVerdict, type FsDaemonVerdict } from './fs-daemon-verdict.ts';
import { planMounts, type FsPolicy, type MountPlan } from './mount-plan.ts';
import { mountTableOs, readMountTable, type MountTableOs } from './mount-table.ts';
import { planLines, planSummary } from './plan-text.ts';

export interface FsDiagnosis {
  readonly os: MountTableOs;
  readonly plan: MountPlan;
  readonly summary: string;
  readonly fsDaemon: Pick<FsDaemonVerdict, 'refusesEveryBackup' | 'text'> & { readonly blocking: readonly string[] };
}

/**
 * `policy` is an Error when the policy file could not be used: the diagnosis is then that error.
 * `remountedByFreeze`: mount points a freeze under way made read-only (the journal names them).
 * They are diagnosed as read-write, as they are between backups: otherwise a status taken during
 * a freeze would call the ESP "skip: read-only" and hide what the next backup does with it.
 */
export async function diagnoseFs(policy: FsPolicy | Error = {}, remountedByFreeze: readonly string[] = []): Promise<FsDiagnosis | { readonly error: string }> {
  if (policy instanceof Error) return { error: policy.message };
  let os: MountTableOs;
  try {
    os = mountTableOs();
    const remounted = new Set(remountedByFreeze);
    const entries = (await readMountTable(os)).map((e) => (e.readOnly && remounted.has(e.mountpoint) ? { ...e, readOnly: false } : e));
    const plan = planMounts(entries, os, policy);
    const verdict = fsDaemonVerdict(entries, os);
    return {
      os,
      plan,
      summary: planSummary(plan),
      fsDaemon: { refusesEveryBackup: verdict.refusesEveryBackup, text: verdict.text, blocking: verdict.blocking.map((m) => m.mountpoint) },
    };
  } catch (err) {
    return { error: `cannot read the mount table: ${(err as Error).message}` };
  }
}

/** Lines for a person: the verdict on hv_vss_daemon, then the plan. */
export function diagnosisLines(d: FsDiagnosis | { readonly error: string }): string[] {
  if ('error' in d) return [`file systems: ${d.error}`];
  const policy = d.plan.policyFile ? [`fs policy file: ${d.plan.policyFile}`] : [];
  return [`file systems: ${d.fsDaemon.text}`, `fs role plan: ${d.summary}`, ...policy, ...planLines(d.plan)];
}
