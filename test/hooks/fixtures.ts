// Test helpers: a temp dir per test with a secure hooks directory, #!/bin/sh fixture hooks, a log file they append to.
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { HookLogLine } from '../../src/hooks/types.ts';

export interface Sandbox {
  base: string;
  /** The hooks directory (root-owned, 0755). */
  hooks: string;
  /** A log file outside the hooks directory that fixtures append to. */
  log: string;
  /** Writes `#!/bin/sh` + body as hooks/<name> (mode 0755 unless told). */
  hook(name: string, body: string, mode?: number): Promise<string>;
  /** Writes a file anywhere under base. */
  file(rel: string, body: string, mode?: number): Promise<string>;
  /** Lines of the log file (empty when it does not exist). */
  readLog(): Promise<string[]>;
  /** Process groups to SIGKILL at cleanup (leftovers of misbehaving fixtures). */
  groups: number[];
  cleanup(): Promise<void>;
}

export async function sandbox(): Promise<Sandbox> {
  const base = await mkdtemp(path.join(os.tmpdir(), 'hvvss-hooks-'));
  await chmod(base, 0o755);
  const hooks = path.join(base, 'hooks.d');
  await mkdir(hooks);
  await chmod(hooks, 0o755);
  const log = path.join(base, 'log');
  const groups: number[] = [];
  const file = async (rel: string, body: string, mode = 0o644): Promise<string> => {
    const p = path.join(base, rel);
    await writeFile(p, body);
    await chmod(p, mode);
    return p;
  };
  return {
    base,
    hooks,
    log,
    groups,
    file,
    hook: (name, body, mode = 0o755) => file(path.join('hooks.d', name), `#!/bin/sh\n${body}\n`, mode),
    async readLog() {
      try {
        return (await readFile(log, 'utf8')).split('\n').filter((l) => l !== '');
      } catch {
        return [];
      }
    },
    async cleanup() {
      for (const g of groups) {
        try {
          process.kill(-g, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await rm(base, { recursive: true, force: true });
    },
  };
}

/** A hook body that appends "<hook> <op> <reason>" to the log, then exits with `code`. */
export function logging(logFile: string, code = 0, extra = ''): string {
  return `echo "$HVVSS_HOOK $1 $HVVSS_REASON" >> '${logFile}'\n${extra}\nexit ${code}`;
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Collects log lines for assertions. */
export function collector(): { lines: HookLogLine[]; onLog: (l: HookLogLine) => void } {
  const lines: HookLogLine[] = [];
  return { lines, onLog: (l) => lines.push(l) };
}
