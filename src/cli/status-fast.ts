// `hvvss status` without loading @oclif/core, for the command lines monitoring runs every minute
// ("hvvss status --json", "--prometheus", path flags): loading oclif is most of the command's
// start-up (docs/benchmarks.md, CLI start). Only a command line this reads exactly as oclif
// would is run here; anything else (help, an unknown or repeated flag, --json with
// --prometheus, a value that looks like a flag) returns undefined and goes through oclif, which
// prints the usage or the error. Values and defaults are those of src/cli/flags.ts: paths made
// absolute, the environment variable when set and not empty, else this OS's default.
// scripts/manifest.ts checks STATUS_FLAGS against the command's flags in the oclif manifest.
import { resolve } from 'node:path';
import { defaultPaths, pidfileIn, socketIn } from '../state/paths.ts';
import type { StatusFlagValues } from './status-run.ts';

type PathFlag = 'socket' | 'pidfile' | 'state-dir' | 'hooks-dir';

/** The status command's flags as oclif defines them (src/commands/status.ts): type and variable. */
export const STATUS_FLAGS: Readonly<Record<string, { type: 'boolean' | 'option'; env?: string }>> = {
  json: { type: 'boolean' },
  prometheus: { type: 'boolean' },
  socket: { type: 'option', env: 'HVVSS_SOCKET' },
  pidfile: { type: 'option', env: 'HVVSS_PIDFILE' },
  'state-dir': { type: 'option', env: 'HVVSS_STATE_DIR' },
  'hooks-dir': { type: 'option', env: 'HVVSS_HOOKS_DIR' },
  // Repeatable: a command line with any of them goes through oclif (parseStatusArgs returns undefined).
  'fs-include': { type: 'option' },
  'fs-skip': { type: 'option' },
  'fs-sync': { type: 'option' },
  'fs-remount-ro': { type: 'option' },
  'fs-skip-if-busy': { type: 'option' },
  'fs-sync-if-busy': { type: 'option' },
  'fs-policy': { type: 'option' },
  help: { type: 'boolean' },
};

const PATH_DEFAULTS: Record<PathFlag, () => string> = {
  socket: () => socketIn(defaultPaths().runDir),
  pidfile: () => pidfileIn(defaultPaths().runDir),
  'state-dir': () => defaultPaths().stateDir,
  'hooks-dir': () => defaultPaths().hooksDir,
};

const isPathFlag = (name: string): name is PathFlag => name in PATH_DEFAULTS;

/** The flags of `hvvss status ARGS`, or undefined when oclif must read ARGS. */
export function parseStatusArgs(args: readonly string[], env: NodeJS.ProcessEnv = process.env): StatusFlagValues | undefined {
  const given = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const match = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    if (!match) return undefined;
    const [, name = '', inline] = match;
    if (given.has(name)) return undefined;
    if (name === 'json' || name === 'prometheus') {
      if (inline !== undefined) return undefined;
      given.set(name, true);
    } else if (isPathFlag(name)) {
      const value = inline ?? args[++i];
      if (value === undefined || value === '' || value.startsWith('-')) return undefined;
      given.set(name, value);
    } else {
      return undefined;
    }
  }
  if (given.has('json') && given.has('prometheus')) return undefined;
  const path = (name: PathFlag): string => {
    const value = given.get(name);
    if (typeof value === 'string') return resolve(value);
    const variable = STATUS_FLAGS[name]?.env;
    const fromEnv = variable === undefined ? undefined : env[variable];
    return fromEnv ? resolve(fromEnv) : PATH_DEFAULTS[name]();
  };
  return {
    json: given.has('json'),
    prometheus: given.has('prometheus'),
    socket: path('socket'),
    pidfile: path('pidfile'),
    'state-dir': path('state-dir'),
    'hooks-dir': path('hooks-dir'),
  };
}

/** Runs `hvvss status ARGS` if it can read ARGS; false when oclif must run it instead. */
export async function runStatusFast(args: readonly string[]): Promise<boolean> {
  const flags = parseStatusArgs(args);
  if (flags === undefined) return false;
  const { runStatus } = await import('./status-run.ts');
  process.exitCode = await runStatus(flags);
  return true;
}
