// Defaults of the hooks runner (all durations in ms), shared by the runner and resident hooks.
export const HOOK_DEFAULTS = {
  hookTimeoutMs: 30_000,
  killGraceMs: 1_000,
  drainMs: 100,
  releaseTimeoutMs: 10_000,
  minThawMs: 2_000,
} as const;
