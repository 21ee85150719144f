// Running hvvss (the built bin/run.cjs, as installed) and other programs as separate processes,
// and waiting on what they print, never on the clock.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const HVVSS_BIN = fileURLToPath(new URL('../../bin/run.cjs', import.meta.url));

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** Rejects after `ms` with `what` in the message; the timer never holds the process. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class WatchedProcess {
  readonly child: ChildProcess;
  /** Every line of stdout and stderr so far, in arrival order. */
  readonly lines: string[] = [];
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<Exit>;
  readonly #waiters = new Set<() => void>();

  constructor(command: string, args: readonly string[], options: SpawnOptions = {}) {
    this.child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    for (const [stream, sink] of [[this.child.stdout, this.stdout], [this.child.stderr, this.stderr]] as const) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        sink.push(line);
        this.lines.push(line);
        for (const wake of this.#waiters) wake();
      });
    }
    this.exited = new Promise((resolve) => this.child.on('close', (code, signal) => resolve({ code, signal })));
  }

  get output(): string {
    return this.lines.join('\n');
  }

  /** Resolves with the first line (already printed or to come) matching `pattern`. */
  waitForLine(pattern: RegExp, ms = 10_000): Promise<string> {
    const found = new Promise<string>((resolve, reject) => {
      const check = () => {
        const line = this.lines.find((l) => pattern.test(l));
        if (line !== undefined) {
          this.#waiters.delete(check);
          resolve(line);
        }
      };
      this.#waiters.add(check);
      check();
      void this.exited.then(() => {
        check();
        if (this.#waiters.delete(check)) reject(new Error(`process exited without printing ${pattern}; output:\n${this.output}`));
      });
    });
    return within(found, ms, `${pattern} in the output of ${this.child.spawnargs.join(' ')}; so far:\n${this.output}`);
  }

  /** Sends `signal` (if still running) and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', ms = 15_000): Promise<Exit> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return within(this.exited, ms, `${this.child.spawnargs.join(' ')} to exit`);
  }
}

/** Runs the hvvss CLI as a separate process. */
export function hvvss(args: readonly string[], options: SpawnOptions = {}): WatchedProcess {
  return new WatchedProcess(process.execPath, [HVVSS_BIN, ...args], options);
}

/** Output with oclif's error decoration (` ›   ` and wrapping) folded into single spaces. */
export function flat(text: string): string {
  return text.replace(/ ›/g, ' ').replace(/\s+/g, ' ').trim();
}

/** Runs hvvss to completion. */
export async function hvvssRun(args: readonly string[], options: SpawnOptions = {}, ms = 30_000): Promise<Exit & { output: string; stdout: string; stderr: string }> {
  const proc = hvvss(args, options);
  const exit = await within(proc.exited, ms, `hvvss ${args.join(' ')}`);
  return { ...exit, output: proc.output, stdout: proc.stdout.join('\n'), stderr: proc.stderr.join('\n') };
}
