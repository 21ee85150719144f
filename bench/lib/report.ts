// What every benchmark hands back, and how the run renders it as Markdown. A benchmark that
// could not produce its numbers says so in `failures`; the run then exits non-zero.
import type { LoadWindow } from './machine.ts';

export interface Table {
  readonly caption?: string;
  readonly columns: readonly string[];
  readonly rows: ReadonlyArray<readonly string[]>;
}

export interface Goal {
  readonly what: string;
  readonly target: string;
  readonly actual: string;
  readonly met: boolean;
  /** Why it was missed and what would close it (shown only when missed). */
  readonly why?: string;
}

export interface BenchResult {
  readonly id: string;
  readonly title: string;
  /** How it was measured, in a few sentences: the reader must be able to judge the figure. */
  readonly method: string;
  readonly tables: readonly Table[];
  readonly goals: readonly Goal[];
  readonly notes: readonly string[];
  /** Non-empty: the benchmark failed to produce its figures (or the soak found a fault). */
  readonly failures: readonly string[];
  /** Raw figures for the JSON dump next to the Markdown. */
  readonly data: Record<string, unknown>;
}

export interface RunRecord extends BenchResult {
  readonly load: LoadWindow;
  readonly seconds: number;
}

export function table(t: Table): string {
  const escape = (cell: string) => cell.replaceAll('|', '\\|');
  const lines = [
    `| ${t.columns.map(escape).join(' | ')} |`,
    `| ${t.columns.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...t.rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ];
  return (t.caption ? `${t.caption}\n\n` : '') + lines.join('\n');
}

export function goalsTable(goals: readonly Goal[]): string {
  return table({
    columns: ['Goal', 'Target', 'Measured', 'Met'],
    rows: goals.map((g) => [g.what, g.target, g.actual, g.met ? 'yes' : '**no**']),
  });
}

/** A failed benchmark still yields a record, so the report shows what broke. */
export function failed(id: string, title: string, err: unknown): BenchResult {
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return { id, title, method: '', tables: [], goals: [], notes: [], failures: [message], data: {} };
}
