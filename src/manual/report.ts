// What the operator commands (hvvss check, freeze, thaw) produce: a stream of events while the
// hooks run, for a display, and one report at the end, for the verdict, the JSON document and
// the exit status. Plain data only: the events also travel from a freeze keeper over IPC and
// over its Unix socket.
import type { HookOp, HookReason, HookResult, HookStream } from '../hooks/index.ts';
import type { LockHolder } from '../state/hooks-lock.ts';

export type ManualCommand = 'check' | 'freeze' | 'thaw';

/** Exit statuses of check, freeze and thaw (freeze -- CMD exits with the command's status instead). */
export const EXIT = {
  /** Every hook succeeded (or, for thaw, nothing was frozen). */
  ok: 0,
  /** A hook failed, a hook was refused, or the hooks directory is unusable. */
  failed: 1,
  /** Bad flags or arguments (oclif's own usage errors use 2 as well). */
  usage: 2,
  /** The hooks are held by someone else (the daemon for a host backup, another manual run): try later. */
  busy: 3,
} as const;

export interface StepReport {
  readonly op: HookOp;
  readonly reason: HookReason;
  readonly ok: boolean;
  /** One result per hook that ran, in the order they ran. */
  readonly hooks: readonly HookResult[];
  /** Why the step failed apart from hook results: directory problem, refused hooks, journal errors. */
  readonly problems: readonly string[];
}

export type RunEvent =
  /** A sequence starts: these hooks run in this order (fewer when a freeze stops at a failure). */
  | { readonly type: 'sequence'; readonly op: HookOp; readonly reason: HookReason; readonly hooks: readonly string[]; readonly timeoutMs?: number }
  /** A hook starts; `endsAt` (epoch ms) is when it is stopped if still running (its timeout or the deadline). */
  | { readonly type: 'hook-start'; readonly op: HookOp; readonly hook: string; readonly at: number; readonly endsAt: number }
  | { readonly type: 'output'; readonly op: HookOp; readonly hook: string; readonly stream: HookStream; readonly line: string }
  | { readonly type: 'hook-end'; readonly result: HookResult }
  | { readonly type: 'sequence-end'; readonly step: StepReport }
  /** Something the operator should read that is not a hook's: "running zfs snapshot", "holder gone". */
  | { readonly type: 'note'; readonly level: 'info' | 'warn' | 'error'; readonly text: string };

export type EmitFn = (event: RunEvent) => void;

/** Where a run's events and verdict are shown (see display.ts for the three kinds). */
export interface Display {
  readonly emit: EmitFn;
  /** Resolves once everything emitted so far is on screen (before a command takes the terminal). */
  settled(): Promise<void>;
  /** The verdict (or the JSON document). */
  finish(report: ManualReport | DryRunReport): Promise<void>;
}

export interface FrozenInfo {
  /** The process holding the residents and the automatic thaw (keeper, or hvvss freeze -- CMD). */
  readonly pid: number;
  readonly since: string;
  /** When it thaws by itself (--max-frozen). */
  readonly autoThawAt: string;
  readonly hooks: readonly string[];
}

export interface CommandRun {
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly durationMs: number;
  /** Why it was stopped early: a signal to hvvss, or --max-frozen. */
  readonly stopped?: string;
}

export interface ManualReport {
  readonly command: ManualCommand;
  readonly ok: boolean;
  readonly exitCode: number;
  /** The verdict in one sentence. */
  readonly summary: string;
  readonly hooksDir?: string;
  readonly steps: readonly StepReport[];
  /** hvvss freeze without a command: what is left frozen, and by whom. */
  readonly frozen?: FrozenInfo;
  /** hvvss freeze -- CMD: how the command went. */
  readonly run?: CommandRun;
  /** Nothing ran because someone else holds the hooks (exit 3), or the run could not start (exit 1). */
  readonly refused?: { readonly message: string; readonly busy: boolean; readonly holder?: LockHolder };
}

/** One dry-run line: a directory entry and what a run would do with it. */
export interface DryRunEntry {
  readonly name: string;
  readonly verdict: 'runnable' | 'skipped' | 'refused' | 'frozen';
  readonly why?: string;
  /** 1-based position in the run, for the entries that would run. */
  readonly order?: number;
}

export interface DryRunReport {
  readonly command: ManualCommand;
  readonly dryRun: true;
  readonly ok: boolean;
  readonly exitCode: number;
  readonly summary: string;
  readonly hooksDir: string;
  readonly entries: readonly DryRunEntry[];
  /** Who holds the hooks now (the real run would be refused), as far as can be told without the lock. */
  readonly holder?: LockHolder;
}

export function resultLine(result: HookResult): string {
  const ms = `${Math.round(result.durationMs)} ms`;
  if (result.ok) return `ok${result.resident ? ', resident' : ''} (${ms})${result.note ? `; ${result.note}` : ''}`;
  return `FAILED: ${result.error ?? 'failed'} (${ms})${result.note ? `; ${result.note}` : ''}`;
}

/** "20-db exited with code 3": the first failure of a step, in words. */
export function firstFailure(step: StepReport): string {
  const failed = step.hooks.find((h) => !h.ok);
  if (failed) return `${failed.hook} ${failed.error ?? 'failed'}`;
  return step.problems[0] ?? 'failed';
}

export const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
