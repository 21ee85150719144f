// Going to the background the way daemon(3) would, in a runtime that cannot fork: the parent
// starts a detached copy of itself (new session, no terminal, stdio closed) and waits on a
// readiness pipe. The child reports "ready" once it has registered on the device, or the
// error that stopped it, so the parent can exit non-zero with the reason, as rc.d expects.
import { childProcess } from '../util/builtins.ts';
import { closeSync, writeSync } from 'node:fs';

const DETACHED_ENV = 'HVVSS_DETACHED_CHILD';
const READY_FD = 3;

/** True in the background copy started by detach(). */
export function isDetachedChild(): boolean {
  return process.env[DETACHED_ENV] === '1';
}

/** In the background copy: tell the waiting parent how start-up went. No-op elsewhere. */
export function reportReadiness(error?: string): void {
  if (!isDetachedChild()) return;
  try {
    writeSync(READY_FD, error === undefined ? 'ready\n' : `error ${error.replaceAll('\n', ' ')}\n`);
    closeSync(READY_FD);
  } catch {
    // The parent is gone: nobody to tell.
  }
  delete process.env[DETACHED_ENV];
}

export interface DetachResult {
  readonly pid: number;
  /** undefined when the child reported ready; otherwise why it did not start. */
  readonly error: string | undefined;
}

/**
 * Starts the background copy of this very command line and waits for its readiness report.
 * `nodeFlags` are Node/V8 options for the long-running copy (they can only be set at start).
 */
export function detach(nodeFlags: readonly string[] = []): Promise<DetachResult> {
  const child = childProcess().spawn(process.execPath, [...process.execArgv, ...nodeFlags, ...process.argv.slice(1)], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    env: { ...process.env, [DETACHED_ENV]: '1' },
  });
  const pipe = child.stdio[READY_FD];
  return new Promise((resolve) => {
    let report = '';
    (pipe as NodeJS.ReadableStream | null)?.setEncoding("utf8");
    pipe?.on('data', (chunk: string) => (report += chunk));
    const done = (fallback: string) => {
      const line = report.split('\n')[0] ?? '';
      const pid = child.pid ?? 0;
      child.unref();
      pipe?.destroy();
      if (line === 'ready') resolve({ pid, error: undefined });
      else if (line.startsWith('error ')) resolve({ pid, error: line.slice(6) });
      else resolve({ pid, error: fallback });
    };
    pipe?.on('end', () => done('the background process exited before it was ready'));
    child.on('error', (err) => done(`cannot start the background process: ${err.message}`));
  });
}
