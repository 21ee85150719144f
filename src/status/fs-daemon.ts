// Whether hv_vss_daemon(8), the file-system half of a backup, is running, and what that means for
// the host's backups. hv_snapshot.c hands every request to the application agent (hvvss) first,
// then to the fs daemon; devd starts hv_vss_daemon once at boot and nothing restarts it. Once it
// has gone away, every request fails; while hvvss is not registered, CHECK and FREEZE go to the fs
// daemon alone and the backup is only file-system consistent.
import { readdirAsync, readTextAsync } from '../util/fs-async.ts';
import { childProcess } from '../util/builtins.ts';

export const FS_DAEMON = 'hv_vss_daemon';

export interface FsDaemonState {
  readonly name: string;
  /** undefined: could not tell (no /proc, no pgrep). */
  readonly running: boolean | undefined;
  /** What it means for the host's backups, with what to do. */
  readonly meaning: string;
}

/** Linux: the command names in /proc (what pgrep -x matches). */
async function inProc(name: string): Promise<boolean | undefined> {
  let entries: string[];
  try {
    entries = await readdirAsync('/proc');
  } catch {
    return undefined;
  }
  const names = await Promise.all(
    entries.filter((e) => /^\d+$/.test(e)).map((pid) => readTextAsync(`/proc/${pid}/comm`).then((comm) => comm.trimEnd(), () => '')),
  );
  return names.includes(name);
}

/** FreeBSD (no /proc by default): pgrep -x, which exits 0 on a match and 1 on none. */
async function byPgrep(name: string): Promise<boolean | undefined> {
  // Loaded only here (childProcess()): on Linux, status reads /proc and never needs child_process.
  return new Promise((resolve) => {
    childProcess().execFile('pgrep', ['-x', name], { timeout: 2_000 }, (err) => {
      if (!err) resolve(true);
      else resolve(typeof err.code === 'number' && err.code === 1 ? false : undefined);
    });
  });
}

export async function fsDaemonRunning(name = FS_DAEMON): Promise<boolean | undefined> {
  return process.platform === 'linux' ? inProc(name) : byPgrep(name);
}

export function fsDaemonState(running: boolean | undefined, agentAnswering: boolean, name = FS_DAEMON): FsDaemonState {
  const meaning =
    running === undefined
      ? `cannot tell whether ${name} runs ("pgrep -x ${name}" failed)`
      : !running
        ? `not running: every host backup fails until it runs; start it with /usr/sbin/${name}`
        : agentAnswering
          ? 'running: host backups are application-consistent (hvvss, then the file systems)'
          : 'running: while hvvss is not running, host backups are only file-system consistent';
  return { name, running, meaning };
}
