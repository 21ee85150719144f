// The emulator as a process: `node src/emulator/main.ts --dir DIR [--timeout-ms N] [--fs-daemon MODE]`.
// Prints one JSON line with the paths once the devices are usable, logs to stderr, and
// unmounts on SIGTERM/SIGINT or a `shutdown` on the control socket.
import './require-node.ts';
import { parseArgs } from 'node:util';
import { EmulatorServer } from './emulator-server.ts';
import { FS_DAEMON_MODES, type FsDaemonMode } from './fs-daemon-standin.ts';
import { KERNEL_TIMEOUT_MS } from '../protocol/hv-vss.ts';
import { LinuxEmulatorServer } from './linux-emulator-server.ts';
import { LINUX_FREEZE_TIMEOUT_MS, LINUX_UTIL_TIMEOUT_MS } from '../protocol/linux-vss.ts';

export const USAGE = `usage: main.js --dir DIR [--timeout-ms N] [--host-wait-ms N] [--fs-daemon success|fail|late|none]
               [--ufs-allow MOUNTPOINT]... [--quiet]
       main.js --linux --dir DIR [--timeout-ms N] [--freeze-timeout-ms N] [--quiet]

Serves FreeBSD's hv_vss(4) devices hv_appvss_dev and hv_fsvss_dev, and ufssuspend, from a FUSE
mount at DIR/dev, with the host's control socket at DIR/control.sock (drive it with host-cli.js).
Runs as root.

  --dir DIR           state directory (created if needed)
  --timeout-ms N      the kernel's limit for one transaction (FreeBSD: ${KERNEL_TIMEOUT_MS})
  --host-wait-ms N    how long the host waits for a reply before it reports "unanswered"
                      (default: twice --timeout-ms)
  --fs-daemon MODE    the stand-in for hv_vss_daemon(8): success, fail, late (answers after the
                      limit) or none (hv_fsvss_dev stays unregistered); default success
  --ufs-allow PATH    a loop mount (ext4, xfs) that ufssuspend treats as UFS: UFSSUSPEND with
                      its fsid freezes it (FIFREEZE); repeatable. No other file system can be
                      frozen. DIR/mount-p lists them as FreeBSD's "mount -p" would
  --linux             serve Linux's /dev/vmbus/hv_vss instead, at DIR/dev/vmbus/hv_vss (read,
                      write, poll; hv_snapshot.c's rules); --timeout-ms is then the limit of
                      HOT_BACKUP and THAW (Linux: ${LINUX_UTIL_TIMEOUT_MS})
  --freeze-timeout-ms N  with --linux, FREEZE's limit (Linux: ${LINUX_FREEZE_TIMEOUT_MS})
  --quiet             no log lines on stderr
  -h, --help          this text

See docs/emulator.md.
`;

/** A mistake in the command line: one line and exit 2, not a stack trace. */
export class UsageError extends Error {}

export async function runEmulator(argv: string[]): Promise<EmulatorServer | LinuxEmulatorServer | undefined> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        dir: { type: 'string' },
        'timeout-ms': { type: 'string' },
        'freeze-timeout-ms': { type: 'string' },
        linux: { type: 'boolean', default: false },
        'host-wait-ms': { type: 'string' },
        'fs-daemon': { type: 'string', default: 'success' },
        'ufs-allow': { type: 'string', multiple: true, default: [] },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return undefined;
  }
  const fsDaemon = values['fs-daemon'] as FsDaemonMode | 'none';
  const timeoutMs = Number(values['timeout-ms'] ?? (values.linux ? LINUX_UTIL_TIMEOUT_MS : KERNEL_TIMEOUT_MS));
  const hostWaitMs = values['host-wait-ms'] === undefined ? undefined : Number(values['host-wait-ms']);
  if (!values.dir) throw new UsageError('--dir DIR is required (the mount goes to DIR/dev)');
  if (fsDaemon !== 'none' && !FS_DAEMON_MODES.includes(fsDaemon)) throw new UsageError(`--fs-daemon takes ${FS_DAEMON_MODES.join(', ')} or none`);
  if (!(timeoutMs > 0)) throw new UsageError('--timeout-ms takes a positive number of milliseconds');
  if (hostWaitMs !== undefined && !(hostWaitMs > 0)) throw new UsageError('--host-wait-ms takes a positive number of milliseconds');
  if (process.getuid?.() !== 0) throw new Error('the emulator mounts a FUSE file system and must run as root (sudo)');
  if (values.linux) return runLinux(values.dir, timeoutMs, values['freeze-timeout-ms'], values.quiet);
  if (values['freeze-timeout-ms'] !== undefined) throw new UsageError('--freeze-timeout-ms needs --linux');
  const server = new EmulatorServer({
    dir: values.dir,
    timeoutMs,
    ...(hostWaitMs === undefined ? {} : { hostWaitMs }),
    fsDaemon,
    ufsAllow: values['ufs-allow'],
    ...logUnlessQuiet(values.quiet),
  });
  return serve(server, () => ({ ...server.paths, timeoutMs, hostWaitMs: server.kernel.hostWaitMs, fsDaemon }));
}

async function runLinux(dir: string, otherMs: number, freeze: string | undefined, quiet: boolean): Promise<LinuxEmulatorServer> {
  const freezeMs = Number(freeze ?? LINUX_FREEZE_TIMEOUT_MS);
  if (!(freezeMs > 0)) throw new UsageError('--freeze-timeout-ms takes a positive number of milliseconds');
  const server = new LinuxEmulatorServer({
    dir,
    limits: { freezeMs, otherMs },
    ...logUnlessQuiet(quiet),
  });
  return serve(server, () => ({ protocol: 'linux', ...server.paths, limits: { freezeMs, otherMs } }));
}

/** Log lines go to stderr, prefixed, unless --quiet. */
function logUnlessQuiet(quiet: boolean): { log?: (line: string) => void } {
  return quiet ? {} : { log: (line: string) => process.stderr.write(`emulator: ${line}\n`) };
}

/**
 * Starts either emulator and prints the ready line (what startEmulator in host-client.ts waits
 * for). SIGTERM/SIGINT unmount before exiting: a FUSE mount left behind by a dead emulator
 * answers ENOTCONN until someone unmounts it by hand. A failed start unmounts what it mounted.
 */
async function serve<S extends { start(): Promise<void>; stop(): Promise<void> }>(server: S, ready: () => object): Promise<S> {
  const stop = () => void server.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  try {
    await server.start();
  } catch (err) {
    await server.stop().catch(() => {});
    throw err;
  }
  process.stdout.write(JSON.stringify({ ready: true, ...ready() }) + '\n');
  return server;
}

if (import.meta.main) {
  runEmulator(process.argv.slice(2)).catch((err: unknown) => {
    const usage = err instanceof UsageError;
    process.stderr.write(`emulator: ${err instanceof Error ? err.message : String(err)}${usage ? ' (see --help)' : ''}\n`);
    process.exit(usage ? 2 : 1);
  });
}
