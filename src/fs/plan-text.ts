// The mount plan as lines for a person: one per mount, its action and the reason. Shared by
// "hvvss check --dry-run" and "hvvss status".
import type { MountPlan, PlannedMount } from './mount-plan.ts';

const ACTION_TEXT = {
  suspend: 'suspend',
  fifreeze: 'FIFREEZE',
  'zpool-sync': 'zpool sync',
  'remount-ro': 'remount ro',
  sync: 'sync',
  skip: 'skip',
  refuse: 'REFUSE',
} as const;

/** "  /boot/efi  msdosfs  remount ro  msdosfs has no freeze: ..." lines; skipped pseudo mounts folded into one line unless `all`. */
export function planLines(plan: MountPlan, options: { readonly all?: boolean; readonly indent?: string } = {}): string[] {
  const indent = options.indent ?? '  ';
  const shown = options.all ? plan.mounts : plan.mounts.filter((m) => m.action !== 'skip' || /admin/.test(m.reason));
  const folded = plan.mounts.length - shown.length;
  const width = Math.max(0, ...shown.map((m) => m.mountpoint.length));
  const typeWidth = Math.max(0, ...shown.map((m) => m.fstype.length));
  // Where the action came from, when the admin chose it (a flag, a policy file line).
  const from = (m: PlannedMount) => (m.origin && m.origin !== 'default' ? ` [${m.origin}]` : '');
  const lines = shown.map((m) => `${indent}${m.mountpoint.padEnd(width)}  ${m.fstype.padEnd(typeWidth)}  ${ACTION_TEXT[m.action]}${from(m)}: ${m.reason}`);
  if (folded > 0) lines.push(`${indent}(${folded} more skipped: read-only, pseudo, remote, covered or not chosen; --json lists them)`);
  return lines;
}

/** One sentence: what a freeze would do with the file systems. */
export function planSummary(plan: MountPlan): string {
  const counts = new Map<string, number>();
  for (const m of plan.mounts) if (m.action !== 'skip') counts.set(m.action, (counts.get(m.action) ?? 0) + 1);
  if (plan.problems.length > 0) return `the fs role would refuse CHECK: ${plan.problems.join('; ')}`;
  if (counts.size === 0) return 'the fs role would act on no file system';
  return `the fs role would ${[...counts].map(([action, n]) => `${ACTION_TEXT[action as keyof typeof ACTION_TEXT]} ${n}`).join(', ')} file system(s)`;
}
