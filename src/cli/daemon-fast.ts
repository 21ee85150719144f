// `hvvss daemon` without loading @oclif/core, for the command lines rc.d and the detached copy run
// ("daemon -n --syslog --device ... --hooks-dir ... --pidfile ... --socket ... [--fs-role ...]"):
// oclif parsed them in the daemon's own process and stayed in its memory for its whole life (5 MiB
// of its RSS, docs/benchmarks.md, Footprint). As in status-fast.ts, only a command line
// this reads exactly as oclif would runs here; anything else (help, an unknown or repeated flag,
// grouped short flags, an argument, a value that looks like a flag or that oclif would refuse,
// options that do not go together) returns false and goes through oclif, which prints the usage
// or the error. scripts/manifest.ts checks DAEMON_FLAGS against the command's flags in the oclif
// manifest (type, letter, variable, repeatable, dependencies, allowed values, default), so the two
// cannot drift.
import { resolve } from 'node:path';
import { FS_DEVICE, KERNEL_TIMEOUT_MS, NO_FS_DEVICE } from '../protocol/hv-vss.ts';
import { DEFAULT_FREEZE_TIMEOUT_S, PROTOCOLS, defaultDevice } from '../daemon/linux-channel.ts';
import { defaultPaths, pidfileIn, socketIn } from '../state/paths.ts';
import type { DaemonOptions } from '../daemon/daemon-main.ts';


/** The defaults of the daemon's duration flags (seconds), shared with src/commands/daemon.ts. */
export const DAEMON_SECONDS_DEFAULTS = { timeout: 10, 'hook-timeout': 8, 'kill-grace': 1, 'max-frozen': 60, 'freeze-timeout': DEFAULT_FREEZE_TIMEOUT_S } as const;

type Value = string | number | boolean | string[];

export interface FastFlag {
  readonly type: 'boolean' | 'option';
  readonly char?: string;
  readonly env?: string;
  readonly multiple?: boolean;
  readonly dependsOn?: readonly string[];
  /** The default as oclif's manifest shows it; a path's is this OS's (the manifest shows both). */
  readonly default?: () => Value;
  /** A path's default depends on the OS: the manifest holds a description, not the value. */
  readonly osDefault?: boolean;
  /** The only values oclif accepts (its `options`); any other goes to oclif, which says which are. */
  readonly options?: readonly string[];
  /** The value from its text (command line or variable); undefined where oclif would refuse it. */
  readonly parse?: (input: string) => Value | undefined;
}

/** What oclif reads from TEXT given to FLAG, or undefined where it would refuse it. */
const valueOf = (flag: FastFlag, text: string): Value | undefined =>
  flag.options && !flag.options.includes(text) ? undefined : flag.parse ? flag.parse(text) : text;

const seconds = (input: string): number | undefined => {
  const value = Number(input);
  return input.trim() === '' || !Number.isFinite(value) || value < 0 ? undefined : value;
};
const absolute = (input: string): string => resolve(input);
const pathFlag = (pick: () => string, env?: string): FastFlag => ({
  type: 'option',
  ...(env ? { env } : {}),
  multiple: false,
  default: pick,
  osDefault: true,
  parse: absolute,
});
const secondsFlag = (name: keyof typeof DAEMON_SECONDS_DEFAULTS): FastFlag => ({
  type: 'option',
  multiple: false,
  default: () => DAEMON_SECONDS_DEFAULTS[name],
  parse: seconds,
});
// No dependsOn: on the Linux protocol the fs role is implied (daemonOptionsProblem checks).
const fsPolicyFlag: FastFlag = { type: 'option', multiple: true, parse: absolute };

/** The daemon command's flags as oclif defines them (src/commands/daemon.ts). */
export const DAEMON_FLAGS: Readonly<Record<string, FastFlag>> = {
  foreground: { type: 'boolean', char: 'n' },
  syslog: { type: 'boolean' },
  debug: { type: 'boolean', char: 'd' },
  device: { type: 'option', env: 'HVVSS_DEVICE', multiple: false, default: () => defaultDevice(), osDefault: true, parse: absolute },
  'hooks-dir': pathFlag(() => defaultPaths().hooksDir, 'HVVSS_HOOKS_DIR'),
  timeout: secondsFlag('timeout'),
  'hook-timeout': secondsFlag('hook-timeout'),
  'kill-grace': secondsFlag('kill-grace'),
  'max-frozen': secondsFlag('max-frozen'),
  pidfile: pathFlag(() => pidfileIn(defaultPaths().runDir), 'HVVSS_PIDFILE'),
  socket: pathFlag(() => socketIn(defaultPaths().runDir), 'HVVSS_SOCKET'),
  'state-dir': pathFlag(() => defaultPaths().stateDir, 'HVVSS_STATE_DIR'),
  'kernel-timeout': { type: 'option', env: 'HVVSS_KERNEL_TIMEOUT', multiple: false, default: () => KERNEL_TIMEOUT_MS / 1000, parse: seconds },
  'fs-role': { type: 'boolean' },
  'fs-include': fsPolicyFlag,
  'fs-skip': fsPolicyFlag,
  'fs-sync': fsPolicyFlag,
  'fs-remount-ro': fsPolicyFlag,
  'fs-skip-if-busy': fsPolicyFlag,
  'fs-sync-if-busy': fsPolicyFlag,
  'fs-policy': { type: 'option', multiple: false, parse: absolute },
  'fs-helper': { type: 'option', env: 'HVVSS_FSFREEZE_HELPER', multiple: false, parse: absolute },
  'fs-device': {
    type: 'option',
    env: 'HVVSS_FS_DEVICE',
    multiple: false,
    default: () => FS_DEVICE,
    parse: (input) => (input === NO_FS_DEVICE ? input : resolve(input)),
  },
  protocol: { type: 'option', env: 'HVVSS_PROTOCOL', multiple: false, options: PROTOCOLS },
  'freeze-timeout': secondsFlag('freeze-timeout'),
  // Never read here: -h goes to oclif, which prints the help.
  help: { type: 'boolean', char: 'h' },
};

const byChar = new Map(Object.entries(DAEMON_FLAGS).flatMap(([name, flag]) => (flag.char ? [[flag.char, name] as const] : [])));

/** The options of `hvvss daemon ARGS`, or undefined when oclif must read ARGS. */
export function parseDaemonArgs(args: readonly string[], env: NodeJS.ProcessEnv = process.env): DaemonOptions | undefined {
  const values = new Map<string, Value>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const long = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    const short = /^-([a-z])$/.exec(arg);
    const name = long ? long[1]! : short ? byChar.get(short[1]!) : undefined;
    const flag = name === undefined || name === 'help' ? undefined : DAEMON_FLAGS[name];
    if (name === undefined || flag === undefined) return undefined;
    const inline = long ? long[2] : undefined;
    if (flag.type === 'boolean') {
      if (inline !== undefined || values.has(name)) return undefined;
      values.set(name, true);
      continue;
    }
    const text = inline ?? args[++i];
    if (text === undefined || text === '' || text.startsWith('-')) return undefined;
    const value = valueOf(flag, text);
    if (value === undefined) return undefined;
    if (flag.multiple) {
      // Only "--flag VALUE" repeated: a bare word after it (oclif may read it as another value) goes to oclif.
      if (args[i + 1] !== undefined && !args[i + 1]!.startsWith('-')) return undefined;
      values.set(name, [...((values.get(name) as string[] | undefined) ?? []), value as string]);
    } else {
      if (values.has(name)) return undefined;
      values.set(name, value);
    }
  }
  // Unset flags: the variable when set and not empty (as oclif reads it), else the default.
  for (const [name, flag] of Object.entries(DAEMON_FLAGS)) {
    if (values.has(name) || flag.type !== 'option') continue;
    const fromEnv = flag.env === undefined ? undefined : env[flag.env];
    if (fromEnv) {
      const value = valueOf(flag, fromEnv);
      if (value === undefined) return undefined;
      values.set(name, value);
    } else if (flag.default) {
      values.set(name, flag.default());
    }
  }
  // oclif refuses a flag whose dependencies are missing (from the variable too): it says so.
  for (const [name, flag] of Object.entries(DAEMON_FLAGS)) {
    if (values.has(name) && flag.dependsOn?.some((other) => !values.has(other))) return undefined;
  }
  const get = <T extends Value>(name: string): T => values.get(name) as T;
  return {
    foreground: values.has('foreground'),
    syslog: values.has('syslog'),
    debug: values.has('debug'),
    device: get('device'),
    'hooks-dir': get('hooks-dir'),
    timeout: get('timeout'),
    'hook-timeout': get('hook-timeout'),
    'kill-grace': get('kill-grace'),
    'max-frozen': get('max-frozen'),
    pidfile: get('pidfile'),
    socket: get('socket'),
    'state-dir': get('state-dir'),
    'kernel-timeout': get('kernel-timeout'),
    'fs-role': values.has('fs-role'),
    'fs-include': values.get('fs-include') as string[] | undefined,
    'fs-skip': values.get('fs-skip') as string[] | undefined,
    'fs-sync': values.get('fs-sync') as string[] | undefined,
    'fs-remount-ro': values.get('fs-remount-ro') as string[] | undefined,
    'fs-skip-if-busy': values.get('fs-skip-if-busy') as string[] | undefined,
    'fs-sync-if-busy': values.get('fs-sync-if-busy') as string[] | undefined,
    'fs-policy': values.get('fs-policy') as string | undefined,
    'fs-helper': values.get('fs-helper') as string | undefined,
    'fs-device': get('fs-device'),
    protocol: values.get('protocol') as string | undefined,
    'freeze-timeout': get('freeze-timeout'),
  };
}

/** Runs `hvvss daemon ARGS` if it can read ARGS; false when oclif must run it instead. */
export async function runDaemonFast(args: readonly string[]): Promise<boolean> {
  const options = parseDaemonArgs(args);
  if (options === undefined) return false;
  const { daemonOptionsProblem, runDaemon } = await import('../daemon/daemon-main.ts');
  // oclif prints usage errors in its own words: let it.
  if (daemonOptionsProblem(options) !== undefined) return false;
  const status = await runDaemon(options);
  // 0 leaves what the daemon set (70 after an internal error, once everything is thawed).
  if (status !== 0) process.exitCode = status;
  return true;
}
