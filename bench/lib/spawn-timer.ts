// Wall time of a command from spawn to exit, as seen by a parent process: the same loop times
// `node -e 0`, `hvvss --help` and `run-parts`, so their ratios compare like with like.
import { spawn, type SpawnOptions } from 'node:child_process';

export interface Timed {
  readonly ms: number;
  readonly code: number | null;
}

export function timeCommand(command: string, args: readonly string[], options: SpawnOptions = {}): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(command, args, { stdio: 'ignore', ...options });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ ms: Number(process.hrtime.bigint() - start) / 1e6, code }));
  });
}

/** Times a command that must succeed; a non-zero exit is a broken benchmark, not a slow one. */
export async function timeOk(command: string, args: readonly string[], options: SpawnOptions = {}): Promise<number> {
  const { ms, code } = await timeCommand(command, args, options);
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${code}`);
  return ms;
}
