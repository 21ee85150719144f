// The COMMAND of "hvvss freeze -- COMMAND", run while the hooks are frozen. Whatever happens the
// caller thaws afterwards, so this only has to make sure the command ends in bounded time:
//  - a signal to hvvss (Ctrl-C, SIGTERM, SIGHUP) is passed on to the command's process group
//    (the command is in a group of its own, so the terminal's Ctrl-C reaches only hvvss);
//  - past --max-frozen (counted from the freeze) it gets SIGTERM, as a forgotten freeze would
//    be thawed: a snapshot finished after that would not be consistent anyway;
//  - --kill-grace after either, SIGKILL; if even that is not reported, we stop waiting and
//    thaw (a process stuck in the kernel must not keep the applications frozen);
//  - the command runs in a process group of its own, and whatever is left of that group when
//    it ends (background children) is stopped too, before the thaw.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { CommandRun } from './report.ts';
import { signalThenKill, stopProcessGroup } from '../util/process-group.ts';

/** The command line as a person would type it (for messages and the lock's holder text). */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`)).join(' ');
}

/** After SIGKILL, how long we still wait for the command's exit before thawing regardless. */
const KILL_CONFIRM_MS = 5_000;

export interface RunWhileFrozenOptions {
  readonly stdout: 'inherit' | 'stderr';
  /** Time left until the automatic thaw (--max-frozen after the freeze). */
  readonly untilThawMs: number;
  readonly killGraceMs: number;
  readonly interrupt: AbortSignal;
  readonly note: (text: string) => void;
}

export function runWhileFrozen(argv: readonly string[], options: RunWhileFrozenOptions): Promise<CommandRun & { overdue: boolean }> {
  const start = performance.now();
  const [file, ...args] = argv;
  const elapsed = () => Math.round(performance.now() - start);
  if (file === undefined) return Promise.resolve({ argv, exitCode: null, signal: null, durationMs: 0, stopped: 'no command given', overdue: false });
  if (options.interrupt.aborted) {
    return Promise.resolve({ argv, exitCode: null, signal: null, durationMs: 0, stopped: `${String(options.interrupt.reason)} before it started`, overdue: false });
  }
  // detached: its own process group (and session), so that the whole group can be stopped at the thaw.
  const child = spawn(file, args, { detached: true, stdio: ['inherit', options.stdout === 'stderr' ? process.stderr : 'inherit', 'inherit'] });
  return new Promise((resolve) => {
    let stopped: string | undefined;
    let overdue = false;
    const timers: NodeJS.Timeout[] = [];
    const cancels: Array<() => void> = [];
    let done = false;
    const finish = (run: Omit<CommandRun, 'argv' | 'durationMs'>) => {
      if (done) return;
      done = true;
      for (const timer of timers) clearTimeout(timer);
      for (const cancel of cancels) cancel();
      options.interrupt.removeEventListener('abort', onInterrupt);
      const result = { argv, durationMs: elapsed(), ...run, ...(stopped === undefined || run.stopped !== undefined ? {} : { stopped }), overdue };
      if (child.pid === undefined) return resolve(result);
      void stopProcessGroup(child.pid, options.killGraceMs).then((how) => {
        if (how !== 'none') options.note(`processes ${file} left in its process group ${child.pid} were ${how === 'killed' ? 'killed (SIGKILL)' : 'stopped (SIGTERM)'} before the thaw`);
        resolve(result);
      });
    };
    const stop = (why: string, signal: NodeJS.Signals) => {
      if (stopped !== undefined) return;
      stopped = why;
      options.note(`${why}: sending ${signal} to ${file} (pid ${child.pid}) and its process group, then thawing`);
      const kill = signalThenKill(child.pid, options.killGraceMs, {
        signal,
        exited: () => done,
        onKill: () => {
          options.note(`${file} (pid ${child.pid}) still running ${options.killGraceMs} ms after ${signal}: sending SIGKILL to its process group`);
          timers.push(
            setTimeout(() => {
              options.note(`${file} (pid ${child.pid}) does not exit even after SIGKILL: thawing without waiting for it`);
              finish({ exitCode: null, signal: null, stopped: `${why}; did not exit after SIGKILL` });
            }, KILL_CONFIRM_MS),
          );
        },
      });
      cancels.push(() => kill.cancel());
    };
    const onInterrupt = () => {
      const signal = String(options.interrupt.reason) as NodeJS.Signals;
      stop(`${signal} received`, /^SIG[A-Z]+$/.test(signal) ? signal : 'SIGTERM');
    };
    options.interrupt.addEventListener('abort', onInterrupt, { once: true });
    timers.push(
      setTimeout(() => {
        overdue = true;
        stop('still running at the automatic thaw time (--max-frozen)', 'SIGTERM');
      }, Math.max(0, options.untilThawMs)),
    );
    child.once('error', (err: NodeJS.ErrnoException) => {
      // Could not be started (ENOENT, EACCES): the shell's 127 and 126.
      finish({ exitCode: err.code === 'ENOENT' ? 127 : 126, signal: null, stopped: `cannot run ${file}: ${err.message}` });
    });
    child.once('exit', (code, signal) => finish({ exitCode: code, signal }));
  });
}
