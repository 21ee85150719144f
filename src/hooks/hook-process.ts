// One spawned hook process: `HOOK check|freeze|thaw` with a fixed environment, cwd `/`, its own
// process group, its output read line by line, and for freeze the notify pipe (READY) and the
// held stdin pipe. Knows how to end itself (TERM, then KILL, to the whole group); the rules of
// when (budgets, deadlines, residents) are the runner's.
import type { Readable, Writable } from 'node:stream';
import type { Clock, Timer } from '../util/clock.ts';
import { readLines } from '../util/line-splitter.ts';
import { signalGroup, signalThenKill } from '../util/process-group.ts';
import type { HookSpawner } from './hook-spawn.ts';
import { defaultHookSpawner } from './hook-spawn-posix.ts';
import type { HookLogFn, HookOp, HookRef, HookStream } from './types.ts';

/** Lines longer than this are split, so a hook printing without newlines cannot grow our memory. */
const MAX_LINE = 16 * 1024;

export const LEFTOVER_NOTE = 'left a background process holding its output; stopped reading it';

export interface ExitInfo {
  exitCode: number | null;
  signal: string | null;
  /** Set when the hook could not be started at all (ENOENT, EACCES, ENOEXEC...). */
  spawnError?: string;
}

export function safeLog(onLog: HookLogFn | undefined, hook: string, op: HookOp, stream: HookStream, line: string): void {
  if (!onLog) return;
  try {
    onLog({ hook, op, stream, line });
  } catch {
    // A failing logger must not break the runner.
  }
}

export function sleepOn(clock: Clock, ms: number): { promise: Promise<'timeout'>; timer: Timer } {
  let timer!: Timer;
  const promise = new Promise<'timeout'>((resolve) => {
    timer = clock.setTimer(ms, () => resolve('timeout'));
  });
  return { promise, timer };
}

export interface SpawnOptions {
  op: HookOp;
  env: Record<string, string>;
  clock: Clock;
  drainMs: number;
  onLog: HookLogFn | undefined;
  /** Starts the process (hook-spawn.ts); posix_spawn (defaultHookSpawner) unless told otherwise. */
  spawner?: HookSpawner | undefined;
}

/**
 * A spawned hook process (internal). `exit` settles when the process itself exits; `done` when, in addition,
 * its output has been drained (or abandoned after `drainMs` because a background child still holds it).
 */
export class HookProcess {
  readonly name: string;
  readonly op: HookOp;
  readonly pid: number | undefined;
  readonly exit: Promise<ExitInfo>;
  readonly done: Promise<ExitInfo>;
  /** Resolves when the hook writes READY to fd 3 (freeze only); never otherwise. */
  readonly ready: Promise<void>;
  exited = false;
  finished = false;
  leftBackground = false;
  #stdin: Writable | null;
  #onLog: HookLogFn | undefined;
  #clock: Clock;
  #terminating = false;
  #killTimer: Timer | undefined;

  constructor(hook: HookRef, options: SpawnOptions) {
    this.name = hook.name;
    this.op = options.op;
    this.#onLog = options.onLog;
    this.#clock = options.clock;
    const sub = (options.spawner ?? defaultHookSpawner().spawner)(hook.path, options.op, options.env);
    this.pid = sub.pid;
    this.#stdin = sub.stdin;
    this.#stdin?.on('error', () => {
      // EPIPE when the hook exits without reading its stdin: expected.
    });

    const outputs: Readable[] = [];
    const out = sub.stdout;
    const err = sub.stderr;
    if (out) {
      outputs.push(out);
      readLines(out, (line) => safeLog(this.#onLog, this.name, this.op, 'stdout', line), MAX_LINE);
    }
    if (err) {
      outputs.push(err);
      readLines(err, (line) => safeLog(this.#onLog, this.name, this.op, 'stderr', line), MAX_LINE);
    }
    let resolveReady!: () => void;
    this.ready = new Promise<void>((resolve) => {
      resolveReady = resolve;
    });
    const notify = sub.notify;
    if (notify) {
      outputs.push(notify);
      readLines(notify, (line) => {
        if (line.trim() === 'READY') resolveReady();
        else safeLog(this.#onLog, this.name, this.op, 'notify', line);
      }, MAX_LINE);
    }
    const outputsClosed = Promise.all(
      outputs.map((s) => (s.destroyed || s.closed ? Promise.resolve() : new Promise<void>((resolve) => s.once('close', () => resolve())))),
    );

    this.exit = sub.ended.then((end) => {
      this.exited = true;
      if (end.spawnError !== undefined) return { exitCode: null, signal: null, spawnError: end.spawnError };
      if (this.#terminating && this.pid !== undefined) this.#signalGroup('SIGKILL'); // clear the leftovers of a killed hook
      return { exitCode: end.exitCode, signal: end.signal };
    });

    this.done = this.exit.then(async (info) => {
      if (info.spawnError === undefined) {
        const drain = sleepOn(this.#clock, options.drainMs);
        const how = await Promise.race([outputsClosed.then(() => 'closed' as const), drain.promise]);
        drain.timer.cancel();
        if (how === 'timeout') {
          this.leftBackground = true;
          for (const s of outputs) s.destroy();
          safeLog(this.#onLog, this.name, this.op, 'runner', LEFTOVER_NOTE);
        }
      }
      this.#stdin?.destroy();
      this.#killTimer?.cancel();
      this.finished = true;
      return info;
    });
  }

  /** Sends `sig` to the hook's whole process group (gone already is fine). */
  #signalGroup(sig: NodeJS.Signals): void {
    signalGroup(this.pid, sig);
  }

  /** SIGTERM to the process group now, SIGKILL to it after `graceMs` if the hook has not exited. */
  terminate(graceMs: number): void {
    if (this.finished || this.#terminating) return;
    this.#terminating = true;
    if (this.exited) {
      this.#signalGroup('SIGKILL');
      return;
    }
    this.#killTimer = signalThenKill(this.pid, graceMs, {
      clock: this.#clock,
      exited: () => this.exited,
      onKill: () => safeLog(this.#onLog, this.name, this.op, 'runner', `still running ${graceMs} ms after SIGTERM: sending SIGKILL to its process group`),
    });
  }

  /** EOF on the hook's stdin (freeze only): tells a resident hook to let go. */
  closeStdin(): void {
    this.#stdin?.end();
  }
}

