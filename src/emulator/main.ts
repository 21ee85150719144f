// The emulator as a process: `node src/emulator/main.ts --dir DIR [--timeout-ms N] [--fs-daemon MODE]`.
// Prints one JSON line with the paths once the devices are usable, logs to stderr, and
// unmounts on SIGTERM/SIGINT or a `shutdown` on the control socket.
import { parseArgs } from 'node:util';
import { EmulatorServer } from './emulator-server.ts';
import { FS_DAEMON_MODES, type FsDaemonMode } from './fs-daemon-standin.ts';
import { KERNEL_TIMEOUT_MS } from '../protocol/hv-vss.ts';

export async function runEmulator(argv: string[]): Promise<EmulatorServer> {
  const { values } = parseArgs({
    args: argv,
    options: {
      dir: { type: 'string' },
      'timeout-ms': { type: 'string', default: String(KERNEL_TIMEOUT_MS) },
      'fs-daemon': { type: 'string', default: 'success' },
      quiet: { type: 'boolean', default: false },
    },
  });
  const fsDaemon = values['fs-daemon'] as FsDaemonMode | 'none';
  const timeoutMs = Number(values['timeout-ms']);
  if (!values.dir) throw new Error('--dir DIR is required (the mount goes to DIR/dev)');
  if (fsDaemon !== 'none' && !FS_DAEMON_MODES.includes(fsDaemon)) throw new Error(`--fs-daemon takes ${FS_DAEMON_MODES.join(', ')} or none`);
  if (!(timeoutMs > 0)) throw new Error('--timeout-ms takes a positive number of milliseconds');
  if (process.getuid?.() !== 0) throw new Error('the emulator mounts a FUSE file system and must run as root');
  const server = new EmulatorServer({
    dir: values.dir,
    timeoutMs,
    fsDaemon,
    ...(values.quiet ? {} : { log: (line: string) => process.stderr.write(`emulator: ${line}\n`) }),
  });
  const stop = () => void server.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  try {
    await server.start();
  } catch (err) {
    await server.stop().catch(() => {});
    throw err;
  }
  process.stdout.write(JSON.stringify({ ready: true, ...server.paths, timeoutMs, fsDaemon }) + '\n');
  return server;
}

if (import.meta.main) {
  runEmulator(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`emulator: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
