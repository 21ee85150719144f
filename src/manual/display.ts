// How the operator commands show a run. Three displays of the same events and report:
//  - a terminal: listr2 task lists (ListrDisplay), one task per hook, and a coloured verdict;
//  - not a terminal, or CI set: plain lines, one per hook result and per output line, that a
//    script or a log can take as they are;
//  - --json: nothing while running, then one JSON document (the report) on standard output.
// Refusals (someone else holds the hooks) and other reasons nothing ran go to standard error.
import { resultLine, type Display, type DryRunReport, type EmitFn, type ManualReport, type RunEvent } from './report.ts';
import { dryRunLines, isDryRun, sequenceHeading } from './display-text.ts';

export interface DisplayChoice {
  readonly json: boolean;
  readonly stdout?: NodeJS.WriteStream;
  readonly env?: NodeJS.ProcessEnv;
}

/** CI set to anything but an explicit no. */
function inCi(env: NodeJS.ProcessEnv): boolean {
  const ci = env.CI;
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false';
}

export async function chooseDisplay(choice: DisplayChoice): Promise<Display> {
  const stdout = choice.stdout ?? process.stdout;
  if (choice.json) return new JsonDisplay(stdout);
  if (stdout.isTTY && !inCi(choice.env ?? process.env)) {
    // listr2 and chalk only for a person at a terminal: scripts and --json never load them.
    const { ListrDisplay } = await import('./listr-display.ts');
    return new ListrDisplay(stdout);
  }
  return new PlainDisplay(stdout);
}

export class PlainDisplay implements Display {
  readonly #out: NodeJS.WritableStream;
  readonly emit: EmitFn;

  constructor(out: NodeJS.WritableStream) {
    this.#out = out;
    this.emit = (event) => this.#event(event);
  }

  #line(text: string): void {
    this.#out.write(text + '\n');
  }

  #event(event: RunEvent): void {
    switch (event.type) {
      case 'sequence':
        return this.#line(sequenceHeading(event) + (event.hooks.length > 0 ? ` (${event.hooks.join(', ')})` : ''));
      case 'output':
        return this.#line(`  [${event.hook}] ${event.stream === 'runner' ? 'hvvss: ' : ''}${event.line}`);
      case 'hook-end': {
        const why = event.result.reason === 'manual' ? '' : ` (${event.result.reason})`;
        return this.#line(`${event.result.op} ${event.result.hook}${why}: ${resultLine(event.result)}`);
      }
      case 'sequence-end': {
        const { step } = event;
        for (const problem of step.problems) this.#line(`${step.op}: ${problem}`);
        return;
      }
      case 'note':
        return this.#line(`${event.level === 'info' ? '' : `${event.level === 'warn' ? 'warning' : 'error'}: `}${event.text}`);
      case 'hook-start':
        return;
    }
  }

  async settled(): Promise<void> {}

  async finish(report: ManualReport | DryRunReport): Promise<void> {
    if (isDryRun(report)) for (const line of dryRunLines(report)) this.#line(line);
    const verdict = `${report.ok ? 'OK' : 'FAILED'}: ${report.summary}`;
    if (!isDryRun(report) && report.refused) process.stderr.write(verdict + '\n');
    else this.#line(verdict);
  }
}

export class JsonDisplay implements Display {
  readonly #out: NodeJS.WritableStream;
  readonly emit: EmitFn = () => {};

  constructor(out: NodeJS.WritableStream) {
    this.#out = out;
  }

  async settled(): Promise<void> {}

  async finish(report: ManualReport | DryRunReport): Promise<void> {
    await new Promise<void>((resolve) => this.#out.write(JSON.stringify(report, null, 2) + '\n', () => resolve()));
  }
}
