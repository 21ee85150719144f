// The hooks subsystem: scan the hooks directory, run check/freeze/thaw sequences.
export { scanHooks, judgeHook, compareNames } from './hook-scan.ts';
export { securityProblems, formatMode, resolveTrusted, processTrustedUids } from './trusted-path.ts';
export { buildHookEnv, HOOK_PATH, NOTIFY_FD } from './hook-env.ts';
export { runHook, hookBudget, HOOK_DEFAULTS, LEFTOVER_NOTE } from './hook-runner.ts';
export type { RunHookOutcome } from './hook-runner.ts';
export { ResidentHook, type ReleaseOptions, type ReleaseOutcome } from './resident-hook.ts';
export { checkAll, freezeAll, thawAll, scanProblems } from './hook-sequence.ts';
export type { FrozenHook, SequenceResult, FreezeResult } from './hook-sequence.ts';
export type * from './types.ts';
