// A writer on a file system a test froze: it blocks in the kernel (state D, waiting in
// sb_start_write) while the file system is frozen and completes once it is thawed. Waiting for
// "blocked" reads /proc/PID/stat until it says D, with a bounded wait, never a sleep.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Exit } from '../support/process.ts';
import { missing } from '../support/requirements.ts';

export interface Writer {
  readonly pid: number;
  readonly exited: Promise<Exit>;
  /** Whether it has exited yet. */
  done(): boolean;
}

export function writer(mountpoint: string, name = 'written'): Writer {
  const child = spawn('/bin/sh', ['-c', `echo written > ${join(mountpoint, name)}`], { stdio: 'ignore' });
  let finished = false;
  const exited = new Promise<Exit>((resolve) => child.on('close', (code, signal) => {
    finished = true;
    resolve({ code, signal });
  }));
  return { pid: child.pid as number, exited, done: () => finished };
}

function state(pid: number): string | undefined {
  try {
    // "PID (comm) S ...": the state follows the last ")".
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** Resolves once the writer is blocked in the kernel; rejects if it exits first or after `ms`. */
export async function blocked(w: Writer, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (w.done()) throw new Error(`the writer (pid ${w.pid}) completed: the file system was not frozen`);
    if (state(w.pid) === 'D') return;
    if (Date.now() > until) throw new Error(`the writer (pid ${w.pid}) did not block within ${ms} ms (state ${state(w.pid)})`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Skips (or fails in CI) unless the tools to make and freeze loop mounts are here. */
export function loopTools(t: TestContext, tools: readonly string[] = ['mkfs.ext4', 'losetup', 'fsfreeze']): boolean {
  if (process.getuid?.() !== 0) {
    missing(t, 'loop mounts need root');
    return false;
  }
  for (const tool of tools) {
    if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).error) {
      missing(t, `${tool} is missing: apt-get install util-linux e2fsprogs`);
      return false;
    }
  }
  return true;
}
