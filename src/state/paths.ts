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
 * Node/V8 options for the long-running daemon (detached by `hvvss daemon`, or started by rc.d),
 * chosen by RSS and the soak (docs/benchmarks.md): V8's lite mode (interpreter only: no optimized
 * code or feedback vectors to keep, for a process that idles between short bursts; it halved the
 * RSS growth over 1000 FREEZE/THAW cycles), a bounded heap (V8 otherwise grows it lazily by tens
 * of MB over many transactions; the live set is about a third of it), and no memory reducer, whose
 * timer wakes an idle daemon every few seconds. Instead, one collection after each burst
 * (src/daemon/idle-collect.ts), through the gc() that --expose-gc gives.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--lite-mode', '--max-old-space-size=32', '--no-memory-reducer', '--expose-gc'];
