// One hook invocation: `HOOK check|freeze|thaw`, with a fixed environment, cwd `/`, its own process group,
// line-by-line output to a log callback, a time budget enforced on the whole process group, and — for freeze —
// the resident-hook protocol (READY on fd 3, held stdin pipe as the "let go" channel).
import { execa } from 'execa';
import type { Readable, Writable } from 'node:stream';
import type { ChildProcess } from 'node:child_process';
import { systemClock } from '../util/clock.ts';
import type { Clock, Timer } from '../util/clock.ts';
import { buildHookEnv, NOTIFY_FD } from './hook-env.ts';
import type {
  BrokenFreezeEvent,
  HookLogFn,
  HookOp,
  HookRef,
  HookResult,
  HookStream,
  RunHookOptions,
} from './types.ts';

export const HOOK_DEFAULTS = {
  hookTimeoutMs: 30_000,
  killGraceMs: 1_000,
  drainMs: 100,
  releaseTimeoutMs: 10_000,
  minThawMs: 2_000,
} as const;

/** Lines longer than this are split, so a hook printing without newlines cannot grow our memory. */
const MAX_LINE = 16 * 1024;
/** After SIGKILL, how long we still wait for the exit to be reported before giving up on the process. */
const KILL_CONFIRM_MS = 5_000;

export const LEFTOVER_NOTE = 'left a background process holding its output; stopped reading it';

interface ExitInfo {
  exitCode: number | null;
  signal: string | null;
  /** Set when the hook could not be started at all (ENOENT, EACCES, ENOEXEC...). */
  spawnError?: string;
}

function safeLog(onLog: HookLogFn | undefined, hook: string, op: HookOp, stream: HookStream, line: string): void {
  if (!onLog) return;
  try {
    onLog({ hook, op, stream, line });
  } catch {
    // A failing logger must not break the runner.
  }
}

/** Calls `onLine` for every line of `stream` (without the newline), and once more for a final unterminated line. */
function readLines(stream: Readable, onLine: (line: string) => void): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    let nl: number;
    while ((nl = pending.indexOf('\n')) !== -1) {
      onLine(pending.slice(0, nl).replace(/\r$/, ''));
      pending = pending.slice(nl + 1);
    }
    while (pending.length > MAX_LINE) {
      onLine(pending.slice(0, MAX_LINE));
      pending = pending.slice(MAX_LINE);
    }
  });
  const flush = (): void => {
    if (pending.length > 0) onLine(pending.replace(/\r$/, ''));
    pending = '';
  };
  stream.once('end', flush);
  stream.once('close', flush);
  stream.on('error', () => {
    // EIO/ECONNRESET on a pipe whose writer died: nothing to do, 'close' follows.
  });
}

function sleepOn(clock: Clock, ms: number): { promise: Promise<'timeout'>; timer: Timer } {
  let timer!: Timer;
  const promise = new Promise<'timeout'>((resolve) => {
    timer = clock.setTimer(ms, () => resolve('timeout'));
  });
  return { promise, timer };
}

interface SpawnOptions {
  op: HookOp;
  env: Record<string, string>;
  clock: Clock;
  drainMs: number;
  onLog: HookLogFn | undefined;
}

/**
 * A spawned hook process (internal). `exit` settles when the process itself exits; `done` when, in addition,
 * its output has been drained (or abandoned after `drainMs` because a background child still holds it).
 */
class HookProcess {
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
  #child: ChildProcess;
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
    const isFreeze = options.op === 'freeze';
    const sub = execa(hook.path, [options.op], {
      cwd: '/',
      env: options.env,
      extendEnv: false,
      detached: true,
      reject: false,
      buffer: false,
      stripFinalNewline: false,
      // freeze: stdin is a pipe we hold open (closing it tells a resident hook to let go), fd 3 the notify pipe.
      // check/thaw: stdin is /dev/null ('ignore').
      stdio: isFreeze ? ['pipe', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'],
    });
    this.#child = sub.nodeChildProcess;
    this.pid = sub.pid;
    this.#stdin = isFreeze ? (sub.stdin as Writable | null) : null;
    this.#stdin?.on('error', () => {
      // EPIPE when the hook exits without reading its stdin: expected.
    });

    const outputs: Readable[] = [];
    const out = sub.stdout as Readable | null;
    const err = sub.stderr as Readable | null;
    if (out) {
      outputs.push(out);
      readLines(out, (line) => safeLog(this.#onLog, this.name, this.op, 'stdout', line));
    }
    if (err) {
      outputs.push(err);
      readLines(err, (line) => safeLog(this.#onLog, this.name, this.op, 'stderr', line));
    }
    let resolveReady!: () => void;
    this.ready = new Promise<void>((resolve) => {
      resolveReady = resolve;
    });
    const notify = isFreeze ? (sub.stdio[NOTIFY_FD] as Readable | null | undefined) : undefined;
    if (notify) {
      outputs.push(notify);
      readLines(notify, (line) => {
        if (line.trim() === 'READY') resolveReady();
        else safeLog(this.#onLog, this.name, this.op, 'notify', line);
      });
    }
    const outputsClosed = Promise.all(
      outputs.map((s) => (s.destroyed || s.closed ? Promise.resolve() : new Promise<void>((resolve) => s.once('close', () => resolve())))),
    );

    // execa settles once the process exited and its streams ended. Without an 'exit' event first, the spawn failed.
    const settled = Promise.resolve(sub).then(
      (r) => r,
      (e: unknown) => ({ failed: true, message: String(e), exitCode: undefined, signal: undefined }) as const,
    );

    this.exit = new Promise<ExitInfo>((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.exited = true;
        if (this.#terminating && this.pid !== undefined) this.#signalGroup('SIGKILL', true); // clear the leftovers of a killed hook
        resolve({ exitCode: code, signal });
      });
      void settled.then((r) => {
        if (this.exited) return;
        this.exited = true;
        const message = 'originalMessage' in r && typeof r.originalMessage === 'string' && r.originalMessage ? r.originalMessage : r.message;
        resolve({ exitCode: null, signal: null, spawnError: message ?? 'cannot start' });
      });
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

  /** Sends `sig` to the hook's whole process group. */
  #signalGroup(sig: NodeJS.Signals, quiet = false): void {
    if (this.pid === undefined) return;
    try {
      process.kill(-this.pid, sig);
    } catch (err) {
      const code = typeof err === 'object' && err !== null && 'code' in err ? (err as { code: unknown }).code : undefined;
      if (code !== 'ESRCH' && !quiet) safeLog(this.#onLog, this.name, this.op, 'runner', `cannot send ${sig} to process group ${this.pid}: ${String(err)}`);
    }
  }

  /** SIGTERM to the process group now, SIGKILL to it after `graceMs` if the hook has not exited. */
  terminate(graceMs: number): void {
    if (this.finished || this.#terminating) return;
    this.#terminating = true;
    if (this.exited) {
      this.#signalGroup('SIGKILL', true);
      return;
    }
    this.#signalGroup('SIGTERM');
    this.#killTimer = this.#clock.setTimer(graceMs, () => {
      if (this.exited) return;
      safeLog(this.#onLog, this.name, this.op, 'runner', `still running ${graceMs} ms after SIGTERM: sending SIGKILL to its process group`);
      this.#signalGroup('SIGKILL');
    });
  }

  /** EOF on the hook's stdin (freeze only): tells a resident hook to let go. */
  closeStdin(): void {
    this.#stdin?.end();
  }
}

function describeFailure(info: ExitInfo, timedOut: boolean, aborted: boolean, budgetMs: number): string | undefined {
  if (info.spawnError !== undefined) return `cannot run: ${info.spawnError}`;
  if (timedOut) return `timed out after ${Math.round(budgetMs)} ms`;
  if (aborted) return 'aborted';
  if (info.signal !== null) return `killed by ${info.signal}`;
  if (info.exitCode !== 0) return `exited with code ${info.exitCode}`;
  return undefined;
}

const liveResidents = new Set<ResidentHook>();

export interface ReleaseOptions {
  clock?: Clock;
  /** How long the process gets to exit after stdin EOF before SIGTERM. */
  timeoutMs: number;
  killGraceMs?: number;
  /** Where release notes go; defaults to the logger the freeze ran with. */
  onLog?: HookLogFn;
}

export interface ReleaseOutcome {
  how: 'exited' | 'killed' | 'already-dead';
  exitCode: number | null;
  signal: string | null;
}

/**
 * A freeze process that signalled READY and keeps running (e.g. a database session holding a global read lock).
 * Not JSON data itself (`toJSON` gives a summary).
 */
export class ResidentHook {
  readonly hook: string;
  readonly pid: number;
  #proc: HookProcess;
  #releasing = false;
  #broken: BrokenFreezeEvent | undefined;
  #onLog: HookLogFn | undefined;

  constructor(proc: HookProcess, clock: Clock, onLog: HookLogFn | undefined, onBrokenFreeze: ((e: BrokenFreezeEvent) => void) | undefined) {
    this.hook = proc.name;
    this.pid = proc.pid ?? -1;
    this.#proc = proc;
    this.#onLog = onLog;
    liveResidents.add(this);
    void proc.exit.then((info) => {
      if (this.#releasing) return;
      this.#broken = { hook: this.hook, pid: this.pid, exitCode: info.exitCode, signal: info.signal, at: clock.wallNow().toISOString() };
      const how = info.signal !== null ? `killed by ${info.signal}` : `exited with code ${info.exitCode}`;
      safeLog(onLog, this.hook, 'freeze', 'runner', `resident freeze process ${this.pid} ${how} before thaw: broken freeze`);
      try {
        onBrokenFreeze?.(this.#broken);
      } catch {
        // The listener's problem, not ours.
      }
    });
    void proc.done.then(() => liveResidents.delete(this));
  }

  /** True while the resident process has not exited. */
  get alive(): boolean {
    return !this.#proc.exited;
  }

  /** Set once the process died before `release()` was called. */
  get brokenFreeze(): BrokenFreezeEvent | undefined {
    return this.#broken;
  }

  /**
   * Lets go: closes the process's stdin, waits up to `timeoutMs` for it to exit, else SIGTERM to its process group
   * and SIGKILL after the grace. Resolves once the process is gone. Safe to call more than once.
   */
  async release(options: ReleaseOptions): Promise<ReleaseOutcome> {
    const clock = options.clock ?? systemClock;
    const grace = options.killGraceMs ?? HOOK_DEFAULTS.killGraceMs;
    const onLog = options.onLog ?? this.#onLog;
    const proc = this.#proc;
    if (proc.exited && !this.#releasing) {
      const info = await proc.done;
      return { how: 'already-dead', exitCode: info.exitCode, signal: info.signal };
    }
    this.#releasing = true;
    proc.closeStdin();
    const wait = sleepOn(clock, Math.max(0, options.timeoutMs));
    const first = await Promise.race([proc.exit, wait.promise]);
    wait.timer.cancel();
    let how: ReleaseOutcome['how'] = 'exited';
    if (first === 'timeout') {
      how = 'killed';
      safeLog(onLog, this.hook, 'thaw', 'runner', `resident freeze process ${this.pid} did not exit within ${Math.round(options.timeoutMs)} ms of stdin EOF: sending SIGTERM to its process group`);
      proc.terminate(grace);
      const confirm = sleepOn(clock, grace + KILL_CONFIRM_MS);
      const r = await Promise.race([proc.exit, confirm.promise]);
      confirm.timer.cancel();
      if (r === 'timeout') {
        safeLog(onLog, this.hook, 'thaw', 'runner', `resident freeze process ${this.pid} survives SIGKILL; giving up on it`);
        return { how, exitCode: null, signal: null };
      }
    }
    const info = await proc.done;
    if (how === 'exited' && info.signal !== null && !this.#broken) {
      // Killed by someone else just before or while we asked it to let go (its exit had not been
      // seen yet): the lock it held did not end cleanly, so this is a broken freeze too.
      this.#broken = { hook: this.hook, pid: this.pid, exitCode: info.exitCode, signal: info.signal, at: clock.wallNow().toISOString() };
      safeLog(onLog, this.hook, 'thaw', 'runner', `resident freeze process ${this.pid} was killed by ${info.signal}, not released: broken freeze`);
    }
    return { how, exitCode: info.exitCode, signal: info.signal };
  }

  toJSON(): { hook: string; pid: number; alive: boolean; brokenFreeze: boolean } {
    return { hook: this.hook, pid: this.pid, alive: this.alive, brokenFreeze: this.#broken !== undefined };
  }
}

/** Resident freeze processes still alive (whatever sequence started them). */
export function residentHooks(): ResidentHook[] {
  return [...liveResidents];
}

/**
 * Last resort on daemon shutdown: lets go of every live resident process at once (stdin EOF, then SIGTERM after
 * `timeoutMs`, SIGKILL after the grace). Prefer `thawAll(frozen, { reason: 'shutdown' })`, which also runs the thaws.
 */
export async function killAllResidents(options: Partial<ReleaseOptions> = {}): Promise<void> {
  await Promise.all(residentHooks().map((r) => r.release({ timeoutMs: 0, ...options })));
}

export interface RunHookOutcome {
  result: HookResult;
  /** False when nothing was spawned (deadline already passed, aborted before start). */
  started: boolean;
  /** Set when a freeze hook signalled READY and keeps running. */
  resident?: ResidentHook;
}

/** The time budget of one invocation, per the deadline rules. Exported for tests and for the status command. */
export function hookBudget(options: RunHookOptions, now: number): { budgetMs: number; deadlineSeconds: number } {
  const hookTimeoutMs = options.hookTimeoutMs ?? HOOK_DEFAULTS.hookTimeoutMs;
  const killGraceMs = options.killGraceMs ?? HOOK_DEFAULTS.killGraceMs;
  const remaining = options.deadline === undefined ? Infinity : options.deadline - now;
  let budgetMs = Math.min(hookTimeoutMs, remaining - killGraceMs);
  if (options.op === 'thaw') {
    // Thaw is never skipped: past the deadline it still gets a short run.
    budgetMs = Math.max(budgetMs, Math.min(hookTimeoutMs, options.minThawMs ?? HOOK_DEFAULTS.minThawMs));
  }
  const deadlineSeconds = Math.max(0, Math.floor((Number.isFinite(remaining) ? remaining : budgetMs) / 1000));
  return { budgetMs, deadlineSeconds };
}

/**
 * Runs `HOOK <op>` once. Never throws for hook failures: they are in the result.
 * For freeze, a hook that writes `READY` to fd 3 succeeds at that moment and is returned as `resident`.
 * The abort signal is honoured by check and freeze only; thaw always runs to completion (within its budget).
 */
export async function runHook(hook: HookRef, options: RunHookOptions): Promise<RunHookOutcome> {
  const clock = options.clock ?? systemClock;
  const killGraceMs = options.killGraceMs ?? HOOK_DEFAULTS.killGraceMs;
  const start = clock.now();
  const startedAt = clock.wallNow().toISOString();
  const { op, reason } = options;
  const base = { hook: hook.name, op, reason, startedAt };
  const { budgetMs, deadlineSeconds } = hookBudget(options, start);
  const signal = op === 'thaw' ? undefined : options.signal;

  if (signal?.aborted) {
    return { started: false, result: { ...base, ok: false, exitCode: null, signal: null, timedOut: false, durationMs: 0, error: 'aborted before start' } };
  }
  if (!(budgetMs > 0)) {
    return { started: false, result: { ...base, ok: false, exitCode: null, signal: null, timedOut: true, durationMs: 0, error: 'no time left before the request deadline' } };
  }

  const env = buildHookEnv({ op, reason, hook: hook.name, msgid: options.msgid, deadlineSeconds });
  const proc = new HookProcess(hook, { op, env, clock, drainMs: options.drainMs ?? HOOK_DEFAULTS.drainMs, onLog: options.onLog });

  let timedOut = false;
  let aborted = false;
  let becameResident = false;
  const timer = clock.setTimer(budgetMs, () => {
    if (proc.exited || becameResident) return;
    timedOut = true;
    safeLog(options.onLog, hook.name, op, 'runner', `timed out after ${Math.round(budgetMs)} ms: sending SIGTERM to its process group`);
    proc.terminate(killGraceMs);
  });
  const onAbort = (): void => {
    if (proc.exited || becameResident || timedOut) return;
    aborted = true;
    safeLog(options.onLog, hook.name, op, 'runner', 'aborted: sending SIGTERM to its process group');
    proc.terminate(killGraceMs);
  };
  signal?.addEventListener('abort', onAbort, { once: true });

  const first = await Promise.race([proc.done.then((info) => ({ kind: 'done' as const, info })), proc.ready.then(() => ({ kind: 'ready' as const }))]);
  timer.cancel();
  signal?.removeEventListener('abort', onAbort);

  if (first.kind === 'ready' && !timedOut && !aborted && !proc.exited) {
    becameResident = true;
    const resident = new ResidentHook(proc, clock, options.onLog, options.onBrokenFreeze);
    safeLog(options.onLog, hook.name, op, 'runner', `READY: resident freeze process ${resident.pid} holds the freeze until thaw`);
    return {
      started: true,
      result: { ...base, ok: true, exitCode: null, signal: null, timedOut: false, durationMs: Math.round(clock.now() - start), resident: true },
      resident,
    };
  }

  const info = first.kind === 'done' ? first.info : await proc.done;
  const error = describeFailure(info, timedOut, aborted, budgetMs);
  const result: HookResult = {
    ...base,
    ok: error === undefined,
    exitCode: info.exitCode,
    signal: info.signal,
    timedOut,
    durationMs: Math.round(clock.now() - start),
  };
  if (error !== undefined) result.error = error;
  if (proc.leftBackground) result.note = LEFTOVER_NOTE;
  return { started: true, result };
}
