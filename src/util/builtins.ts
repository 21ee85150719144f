// Node built-in modules that only some of the daemon's paths need, loaded on first use. A
// resident process pays for every module it loads, in memory on every VM (docs/benchmarks.md,
// Footprint): node:child_process, for one, is needed only by the file-system role and recovery,
// never by an agent that runs hooks (they start through posix_spawn, src/native/spawn.ts); the
// status command needs it only on FreeBSD (pgrep), the operator commands only for the keeper.
// process.getBuiltinModule is synchronous, so callers stay as they were.
export const childProcess = (): typeof import('node:child_process') => process.getBuiltinModule('node:child_process');
