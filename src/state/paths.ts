// Where the daemon keeps things, per OS (FreeBSD's hier(7) conventions, Linux's FHS for the emulator).
import { join } from 'node:path';

export interface DaemonPaths {
  readonly hooksDir: string;
  readonly stateDir: string;
  readonly runDir: string;
}

export function defaultPaths(os: string = process.platform): DaemonPaths {
  return os === 'freebsd'
    ? { hooksDir: '/usr/local/etc/hvvss/hooks.d', stateDir: '/var/db/hvvss', runDir: '/var/run/hvvss' }
    : { hooksDir: '/etc/hvvss/hooks.d', stateDir: '/var/lib/hvvss', runDir: '/run/hvvss' };
}

/**
 * A default path for --help, the same on every OS: the oclif manifest is built once (on Linux)
 * and shipped, so a default computed at build time would show Linux paths on FreeBSD.
 */
export function describeDefault(pick: (paths: DaemonPaths) => string): string {
  return `${pick(defaultPaths('freebsd'))} on FreeBSD, ${pick(defaultPaths('linux'))} on Linux`;
}

export const pidfileIn = (runDir: string): string => join(runDir, 'hvvss.pid');
export const socketIn = (runDir: string): string => join(runDir, 'hvvss.sock');
export const journalIn = (stateDir: string): string => join(stateDir, 'frozen.json');
/** The hooks lock: who runs the hooks now (daemon or operator command), see hooks-lock.ts. */
export const hooksLockIn = (stateDir: string): string => join(stateDir, 'hooks.lock');
/** The socket of a manual freeze's keeper: next to the journal that records that freeze. */
export const keeperSocketIn = (stateDir: string): string => join(stateDir, 'manual.sock');

/**
 * Node/V8 options for the long-running daemon (detached by `hvvss daemon`, or started by rc.d):
 * a bounded heap, since V8 otherwise grows it lazily by tens of MB over many transactions, and
 * no memory reducer, whose timer wakes an idle daemon every few seconds (see docs/benchmarks.md).
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-old-space-size=48', '--max-semi-space-size=1', '--no-memory-reducer'];
