// Text shared by the plain and the terminal displays.
import chalk, { chalkStderr } from 'chalk';
import type { DryRunReport, ManualReport, RunEvent } from './report.ts';

export const seconds = (ms: number): string => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

export function sequenceHeading(event: RunEvent & { type: 'sequence' }): string {
  const why = event.reason === 'manual' ? '' : ` (${event.reason})`;
  const limit = event.timeoutMs === undefined ? '' : `, limit ${seconds(event.timeoutMs)}`;
  const count = event.hooks.length === 1 ? '1 hook' : `${event.hooks.length} hooks`;
  return `${event.op}${why}: ${count}${limit}`;
}

export function dryRunLines(report: DryRunReport): string[] {
  const lines = [`${report.command} --dry-run in ${report.hooksDir}:`];
  const width = Math.max(0, ...report.entries.map((e) => e.name.length));
  for (const entry of report.entries) {
    const position = entry.order === undefined ? '  -' : String(entry.order).padStart(3);
    lines.push(`${position}  ${entry.name.padEnd(width)}  ${entry.verdict}${entry.why ? `: ${entry.why}` : ''}`);
  }
  return lines;
}

export function isDryRun(report: ManualReport | DryRunReport): report is DryRunReport {
  return 'dryRun' in report;
}

/** The verdict in colour for a terminal (ListrDisplay), refusals on stderr. */
export function printVerdict(out: NodeJS.WritableStream, report: ManualReport | DryRunReport): void {
  if (isDryRun(report)) {
    const [first, ...rest] = dryRunLines(report);
    out.write(chalk.bold(first) + '\n');
    for (const line of rest) out.write((/ refused/.test(line) ? chalk.red(line) : / skipped/.test(line) ? chalk.dim(line) : line) + '\n');
  }
  const refused = !isDryRun(report) && report.refused !== undefined;
  const c = refused ? chalkStderr : chalk;
  const text = report.ok ? c.green.bold(`✔ ${report.summary}`) : c.red.bold(`✖ ${report.summary}`);
  (refused ? process.stderr : out).write(text + '\n');
}
