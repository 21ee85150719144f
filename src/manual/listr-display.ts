// The terminal display: each hook sequence (check, freeze, a rollback, thaw) is a listr2 task
// list with one task per hook, in run order. A task shows the hook's name and state; while it
// runs, how long it has been running and the time left before it is stopped (its timeout or the
// sequence's deadline); its output lines underneath; when done, ok or why it failed, and its
// duration. Hooks a failed freeze never reached are shown skipped.
//
// listr2 runs tasks itself, but here the hooks engine runs the hooks (possibly in a keeper
// process): each task only waits for its hook's events. Events are buffered per hook, since a
// hook may start before listr2 gets to its task.
import chalk from 'chalk';
import { Listr, type ListrTask } from 'listr2';
import type { HookResult } from '../hooks/index.ts';
import { printVerdict, seconds, sequenceHeading } from './display-text.ts';
import type { Display, DryRunReport, EmitFn, ManualReport, RunEvent, StepReport } from './report.ts';

/** Output lines kept under a task: enough to read an error, not a flood from a chatty hook. */
const OUTPUT_LINES = 10;
const TICK_MS = 100;

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

class HookSlot {
  readonly name: string;
  readonly started = deferred<{ at: number; endsAt: number }>();
  readonly result = deferred<HookResult>();
  readonly lines: string[] = [];
  hasStarted = false;
  onLine: ((line: string) => void) | undefined;

  constructor(name: string) {
    this.name = name;
  }

  line(text: string): void {
    this.lines.push(text);
    this.onLine?.(text);
  }
}

/** One sequence: its slots fill from events; its listr2 list renders them. */
class SequenceView {
  readonly heading: string;
  readonly op: string;
  readonly slots = new Map<string, HookSlot>();
  readonly ended = deferred<StepReport>();
  readonly #width: number;

  constructor(event: RunEvent & { type: 'sequence' }) {
    this.heading = sequenceHeading(event);
    this.op = event.op;
    for (const hook of event.hooks) this.slots.set(hook, new HookSlot(hook));
    this.#width = Math.max(0, ...event.hooks.map((h) => h.length));
  }

  event(event: RunEvent): void {
    switch (event.type) {
      case 'hook-start': {
        const slot = this.slots.get(event.hook);
        if (!slot) return;
        slot.hasStarted = true;
        slot.started.resolve({ at: event.at, endsAt: event.endsAt });
        return;
      }
      case 'output':
        return this.slots.get(event.hook)?.line(event.stream === 'runner' ? chalk.yellow(`hvvss: ${event.line}`) : event.line);
      case 'hook-end':
        return this.slots.get(event.result.hook)?.result.resolve(event.result);
      case 'sequence-end':
        return this.ended.resolve(event.step);
      default:
        return;
    }
  }

  #name(slot: HookSlot): string {
    return slot.name.padEnd(this.#width);
  }

  #task(slot: HookSlot): ListrTask {
    return {
      title: this.#name(slot),
      rendererOptions: { persistentOutput: true, outputBar: OUTPUT_LINES },
      task: async (_ctx, task) => {
        const first = await Promise.race([slot.started.promise.then(() => 'started' as const), this.ended.promise.then(() => 'ended' as const)]);
        if (first === 'ended' && !slot.hasStarted) {
          const step = await this.ended.promise;
          const why = step.ok ? 'not needed' : step.hooks.length === 0 ? 'nothing ran' : `an earlier ${this.op} failed`;
          task.skip(`${this.#name(slot)}  not run (${why})`);
          return;
        }
        const { at, endsAt } = await slot.started.promise;
        const tick = () => {
          const now = Date.now();
          task.title = `${this.#name(slot)}  ${chalk.cyan(seconds(now - at))}  ${chalk.dim(`${seconds(Math.max(0, endsAt - now))} left`)}`;
        };
        tick();
        const ticker = setInterval(tick, TICK_MS);
        for (const line of slot.lines) task.output = line;
        slot.onLine = (line) => (task.output = line);
        const result = await Promise.race([slot.result.promise, this.ended.promise.then(() => undefined)]);
        clearInterval(ticker);
        slot.onLine = undefined;
        if (!result) throw new Error(`${slot.name}: no result (the run was interrupted)`);
        const resident = result.resident ? (result.op === 'freeze' ? 'resident: holds the freeze until thaw' : `resident process ${result.release ?? 'released'}`) : '';
        const extra = [resident, result.note ?? ''].filter(Boolean).join('; ');
        const tail = `${chalk.dim(seconds(result.durationMs))}${extra ? chalk.dim(`  ${extra}`) : ''}`;
        if (result.ok) {
          task.title = `${this.#name(slot)}  ${chalk.green('ok')}  ${tail}`;
          return;
        }
        // The reason goes in the title (showErrorMessage is off): it stays next to the hook's name.
        task.title = `${this.#name(slot)}  ${chalk.red(`FAILED: ${result.error ?? 'failed'}`)}  ${tail}`;
        throw new Error(result.error ?? 'failed');
      },
    };
  }

  async run(out: NodeJS.WritableStream): Promise<void> {
    out.write(chalk.bold(this.heading) + '\n');
    if (this.slots.size > 0) {
      const list = new Listr([...this.slots.values()].map((slot) => this.#task(slot)), {
        concurrent: false,
        exitOnError: false,
        // Ctrl-C belongs to hvvss: it stops the hooks and thaws; listr2 must not exit on it.
        registerSignalListeners: false,
        rendererOptions: { showErrorMessage: false, formatOutput: 'wrap', removeEmptyLines: false },
      });
      await list.run().catch(() => {});
    }
    const step = await this.ended.promise;
    for (const problem of step.problems) out.write(chalk.red(`  ${problem}`) + '\n');
  }
}

export class ListrDisplay implements Display {
  readonly #out: NodeJS.WriteStream;
  /** Everything on screen happens in this order: sequence lists, notes, the verdict. */
  #queue: Promise<void> = Promise.resolve();
  #current: SequenceView | undefined;
  readonly emit: EmitFn;

  constructor(out: NodeJS.WriteStream) {
    this.#out = out;
    this.emit = (event) => this.#event(event);
  }

  #then(step: () => void | Promise<void>): void {
    this.#queue = this.#queue.then(step).catch(() => {});
  }

  #event(event: RunEvent): void {
    if (event.type === 'sequence') {
      const view = new SequenceView(event);
      this.#current = view;
      this.#then(() => view.run(this.#out));
      return;
    }
    if (event.type === 'note') {
      const text = event.level === 'info' ? chalk.cyan(`› ${event.text}`) : event.level === 'warn' ? chalk.yellow(`! ${event.text}`) : chalk.red(`✖ ${event.text}`);
      this.#then(() => void this.#out.write(text + '\n'));
      return;
    }
    this.#current?.event(event);
  }

  settled(): Promise<void> {
    return this.#queue;
  }

  async finish(report: ManualReport | DryRunReport): Promise<void> {
    // A keeper that died mid-sequence sends no end: close the list rather than wait forever.
    this.#current?.ended.resolve({ op: 'thaw', reason: 'manual', ok: false, hooks: [], problems: [] });
    await this.#queue;
    printVerdict(this.#out, report);
  }
}
