// The suspension helper (src/fs/helper/hvvss-fsfreeze.c) driven like a resident hook: started
// with the mount points, it freezes them in order and says "ready"; it holds them until a line
// on its stdin, the end of its stdin (hvvss died) or a signal, then thaws them in reverse. It
// exists because FreeBSD's UFSSUSPEND refuses a multi-threaded caller (EDEADLK), and Node.js
// is never single-threaded; on FreeBSD its death also resumes every mount it held.
import type { ChildProcess } from 'node:child_process';
import { childProcess } from '../util/builtins.ts';
import { readLines } from '../util/line-splitter.ts';
import { accessSync, constants, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where the port installs it; HVVSS_FSFREEZE_HELPER overrides (tests, a source checkout). */
export const DEFAULT_HELPER = '/usr/local/libexec/hvvss-fsfreeze';

export function helperPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.HVVSS_FSFREEZE_HELPER || DEFAULT_HELPER;
}

/**
 * The helper's C source as this copy of hvvss has it: the package ships it (package.json
 * "files"). This module runs two directories below the package root, from src/fs/ in a checkout
 * and from dist/chunks/ or dist/commands/ once built, hence ../../.
 */
export const HELPER_SOURCE = fileURLToPath(new URL('../../src/fs/helper/hvvss-fsfreeze.c', import.meta.url));

/** Why the helper cannot be used, with the fix, or undefined. */
export function helperProblem(path: string, source: string = HELPER_SOURCE): string | undefined {
  try {
    accessSync(path, constants.X_OK);
    return undefined;
  } catch {
    const from = existsSync(source) ? source : 'src/fs/helper/hvvss-fsfreeze.c';
    return (
      `the suspension helper ${path} is missing or not executable: the port installs it; otherwise build it with ` +
      `"cc -O2 -o ${path} ${from}" (or point HVVSS_FSFREEZE_HELPER at it)`
    );
  }
}

export interface HelperLineEvent {
  readonly kind: 'frozen' | 'failed' | 'thawed' | 'thaw-failed';
  /** Index into the mount points given, from 0. */
  readonly index: number;
  readonly code?: string;
  readonly text?: string;
}

export function parseHelperLine(line: string): HelperLineEvent | 'ready' | 'done' | undefined {
  if (line === 'ready' || line === 'done') return line;
  const m = /^(frozen|failed|thawed|thaw-failed) (\d+)(?: (\S+) ?(.*))?$/.exec(line);
  if (!m) return undefined;
  return { kind: m[1] as HelperLineEvent['kind'], index: Number(m[2]) - 1, ...(m[3] ? { code: m[3] } : {}), ...(m[4] ? { text: m[4] } : {}) };
}

export interface HelperFreeze {
  readonly ok: boolean;
  /** Indexes frozen and still held (all of them when ok; none after a failure: the helper thawed them). */
  readonly held: readonly number[];
  readonly failed?: HelperLineEvent;
  /** Set when the helper ended without saying why (killed, crashed). */
  readonly exit?: string;
}

export class FreezeHelper {
  readonly #child: ChildProcess;
  readonly #events: Array<HelperLineEvent | 'ready' | 'done'> = [];
  readonly #waiters = new Set<() => void>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #exitedNow = false;

  private constructor(path: string, mountpoints: readonly string[]) {
    // stderr to /dev/null: no descriptor of ours open for writing may reach it (EDEADLK on UFS).
    this.#child = childProcess().spawn(path, [...mountpoints], { stdio: ['pipe', 'pipe', 'ignore'] });
    readLines(this.#child.stdout!, (line) => {
      const event = parseHelperLine(line);
      if (event) this.#events.push(event);
      this.#wake();
    });
    // Our end of its stdin may break when it exits first: nothing to do then.
    this.#child.stdin!.on('error', () => {});
    this.exited = new Promise((resolve) => {
      this.#child.on('error', () => {
        this.#exitedNow = true;
        this.#wake();
        resolve({ code: null, signal: null });
      });
      this.#child.on('close', (code, signal) => {
        this.#exitedNow = true;
        this.#wake();
        resolve({ code, signal });
      });
    });
  }

  #wake(): void {
    for (const wake of this.#waiters) wake();
  }

  /** Resolves when `done` says so, or when the helper has exited. */
  #until(done: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (done() || this.#exitedNow) {
          this.#waiters.delete(check);
          resolve();
        }
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Starts the helper and waits until it holds every mount point, or has failed (and thawed). */
  static async freeze(path: string, mountpoints: readonly string[]): Promise<{ helper: FreezeHelper; result: HelperFreeze }> {
    const helper = new FreezeHelper(path, mountpoints);
    await helper.#until(() => helper.#events.some((e) => e === 'ready' || e === 'done'));
    const frozen = helper.#events.filter((e): e is HelperLineEvent => typeof e === 'object' && e.kind === 'frozen').map((e) => e.index);
    if (helper.#events.includes('ready')) return { helper, result: { ok: true, held: frozen } };
    const failed = helper.#events.find((e): e is HelperLineEvent => typeof e === 'object' && e.kind === 'failed');
    const thawed = new Set(helper.#events.filter((e): e is HelperLineEvent => typeof e === 'object' && e.kind === 'thawed').map((e) => e.index));
    const exit = await helper.exited;
    return {
      helper,
      result: {
        ok: false,
        held: frozen.filter((i) => !thawed.has(i)),
        ...(failed ? { failed } : {}),
        ...(failed ? {} : { exit: exit.signal ? `killed by ${exit.signal}` : `exited with status ${exit.code}` }),
      },
    };
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Whether it still runs (holding). */
  get alive(): boolean {
    return !this.#exitedNow;
  }

  /** Tells it to thaw, and waits for it to be done: the indexes it could not thaw. */
  async thaw(): Promise<{ readonly failed: readonly HelperLineEvent[]; readonly exit: string | undefined }> {
    if (!this.#exitedNow) this.#child.stdin!.end('thaw\n');
    await this.#until(() => this.#events.includes('done'));
    const exit = await this.exited;
    const failed = this.#events.filter((e): e is HelperLineEvent => typeof e === 'object' && e.kind === 'thaw-failed');
    const said = this.#events.includes('done');
    return { failed, exit: said ? undefined : exit.signal ? `killed by ${exit.signal}` : `exited with status ${exit.code}` };
  }
}
