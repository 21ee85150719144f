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

export const pidfileIn = (runDir: string): string => join(runDir, 'hvvss.pid');
export const socketIn = (runDir: string): string => join(runDir, 'hvvss.sock');
export const journalIn = (stateDir: string): string => join(stateDir, 'frozen.json');
/** The hooks lock: who runs the hooks now (daemon or operator command), see hooks-lock.ts. */
export const hooksLockIn = (stateDir: string): string => join(stateDir, 'hooks.lock');
/** The socket of a manual freeze's keeper: next to the journal that records that freeze. */
export const keeperSocketIn = (stateDir: string): string => join(stateDir, 'manual.sock');
