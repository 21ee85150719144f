// hvvss daemon -n for one test: the command line from a file's defaults and a test's own flags,
// started as a separate process, stopped after the test. Teardown thaws the test's loop mounts
// first (a daemon or hook blocked on a frozen file system cannot be killed), then kills.
import { join } from 'node:path';
import { HVVSS_BIN, WatchedProcess } from './process.ts';
import { thawLoop } from './loop-fs.ts';
import type { Defer } from './cleanups.ts';

export interface DaemonLine {
  /** `--device`: hv_appvss_dev (FreeBSD) or /dev/vmbus/hv_vss (Linux). */
  readonly device: string;
  readonly hooksDir: string;
  /** The test's scratch directory: the pidfile and the status socket go to ROOT/run. */
  readonly root: string;
  /** Default ROOT/state. */
  readonly stateDir?: string;
  /** `--fs-device`, when given. */
  readonly fsDevice?: string;
  /** One value each (timeouts): a flag of the same name in `extra` replaces it. */
  readonly defaults?: Readonly<Record<string, string>>;
  /** The file's other flags (--fs-role, --fs-include...), before `extra`. */
  readonly flags?: readonly string[];
  /** The test's own flags, last. */
  readonly extra?: readonly string[];
}

export interface DaemonStart extends DaemonLine {
  readonly env?: NodeJS.ProcessEnv;
  /** Node's options before bin/run.cjs (DAEMON_NODE_FLAGS: as rc.d runs it, with the shipped heap cap). */
  readonly nodeOptions?: readonly string[];
  /** Loop mounts to thaw in teardown before the daemon is killed (allow-listed: thawLoop checks). */
  readonly thaw?: readonly string[];
  /** What the daemon prints once it is ready, each waited for (default: `registered on `). */
  readonly registered?: readonly RegExp[];
  /** Teardown: SIGKILL (default), or SIGTERM first so that it thaws its hooks itself (SIGKILL if it does not exit). */
  readonly teardown?: 'kill' | 'terminate';
}

/** The kernel's limit most tests give the emulator (FreeBSD's is 15 s): short, so that a timeout can be provoked. */
export const KERNEL_TIMEOUT_S = 3;

/** The daemon's limits under it, as `defaults`. */
export const SHORT_LIMITS: Readonly<Record<string, string>> = { '--kernel-timeout': String(KERNEL_TIMEOUT_S), '--timeout': '2', '--hook-timeout': '1', '--kill-grace': '0.2' };

/** Both devices of the FreeBSD emulator, with --fs-role: the fs device first. */
export const BOTH_CHANNELS: readonly RegExp[] = [/registered on .*hv_fsvss_dev/, /registered on .*hv_appvss_dev/];

/** `--pidfile`, `--socket` and `--state-dir` as the daemon with this root and state dir has them (for status too). */
export function runPaths(root: string, stateDir = join(root, 'state')): string[] {
  return ['--pidfile', join(root, 'run', 'hvvss.pid'), '--socket', join(root, 'run', 'hvvss.sock'), '--state-dir', stateDir];
}

export function daemonCommandLine(line: DaemonLine): string[] {
  const extra = line.extra ?? [];
  return [
    'daemon', '-n', '--device', line.device, ...(line.fsDevice ? ['--fs-device', line.fsDevice] : []), '--hooks-dir', line.hooksDir,
    ...runPaths(line.root, line.stateDir),
    ...Object.entries(line.defaults ?? {}).filter(([flag]) => !extra.includes(flag)).flat(),
    ...(line.flags ?? []),
    ...extra,
  ];
}

/** Starts the daemon, stopped by `defer` after the test; resolves once it is registered. */
export async function spawnDaemon(defer: Defer, start: DaemonStart): Promise<WatchedProcess> {
  const daemon = new WatchedProcess(process.execPath, [...(start.nodeOptions ?? []), HVVSS_BIN, ...daemonCommandLine(start)], start.env ? { env: start.env } : {});
  defer(async () => {
    for (const mountpoint of start.thaw ?? []) thawLoop(mountpoint);
    if (start.teardown === 'terminate') await daemon.stop('SIGTERM').catch(() => daemon.stop('SIGKILL'));
    else await daemon.stop('SIGKILL');
  });
  for (const line of start.registered ?? [/registered on /]) await daemon.waitForLine(line);
  return daemon;
}
