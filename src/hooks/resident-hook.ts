// A resident freeze: a freeze hook that wrote READY and keeps running, holding something only a
// live session can hold (a database's global read lock). Letting go is closing its stdin; a
// death before that is a broken freeze.
import { systemClock } from '../util/clock.ts';
import type { Clock } from '../util/clock.ts';
import { safeLog, sleepOn, type HookProcess } from './hook-process.ts';
import type { BrokenFreezeEvent, HookLogFn } from './types.ts';
import { HOOK_DEFAULTS } from './hook-defaults.ts';

/** After SIGKILL, how long we still wait for the exit to be reported before giving up on the process. */
const KILL_CONFIRM_MS = 5_000;

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

