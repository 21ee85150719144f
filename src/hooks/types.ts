// Shared types of the hooks subsystem: scan verdicts, invocation options and JSON-able results.
import type { HookSpawner } from './hook-spawn.ts';
import type { Clock } from '../util/clock.ts';

export type HookOp = 'check' | 'freeze' | 'thaw';

/** Why a hook sequence runs: passed to hooks as HVVSS_REASON. */
export type HookReason = 'host' | 'manual' | 'rollback' | 'watchdog' | 'recovery' | 'shutdown';

export type HookVerdict = 'runnable' | 'skipped' | 'refused';

/** One directory entry of the hooks directory, with what the scan decided about it. */
export interface HookEntry {
  /** File name inside the hooks directory. */
  name: string;
  /** Absolute path of the entry (the symlink itself for a symlink: it is what gets executed). */
  path: string;
  verdict: HookVerdict;
  /** Why it is skipped or refused; absent for runnable entries. */
  why?: string;
  /** For a symlink: its resolved target. */
  target?: string;
}

/** The minimum a runner needs to invoke a hook. */
export interface HookRef {
  name: string;
  path: string;
}

export interface ScanDirProblem {
  /** `missing`: the directory does not exist; `insecure`: wrong owner or mode; `unusable`: not a directory, unreadable. */
  kind: 'missing' | 'insecure' | 'unusable';
  message: string;
}

export interface ScanResult {
  dir: string;
  /** Set when the directory itself is missing, insecure or unusable: CHECK must then fail. */
  problem?: ScanDirProblem;
  /** Every entry, sorted by name in byte order, each with its verdict. */
  entries: HookEntry[];
  /** The runnable entries, in name order (the order of check and freeze). */
  runnable: HookEntry[];
  /** The refused entries: any of them makes check and freeze fail before running anything. */
  refused: HookEntry[];
}

export interface ScanOptions {
  /** Owners accepted for the directory and the hooks: root and the daemon's uid. */
  trustedUids: number[];
}

export type HookStream = 'stdout' | 'stderr' | 'notify' | 'runner';

/**
 * One line of hook output. `stream` is `notify` for extra lines a hook writes to HVVSS_NOTIFY_FD,
 * `runner` for notes of the runner itself about that hook (timeouts, kills, leftover processes).
 */
export interface HookLogLine {
  hook: string;
  op: HookOp;
  stream: HookStream;
  line: string;
}

export type HookLogFn = (line: HookLogLine) => void;

/** Emitted when a resident freeze process dies before thaw asked it to let go. */
export interface BrokenFreezeEvent {
  hook: string;
  pid: number;
  exitCode: number | null;
  signal: string | null;
  /** ISO wall-clock time of the death. */
  at: string;
}

/** The result of one hook invocation. Plain data: JSON-able as is. */
export interface HookResult {
  hook: string;
  op: HookOp;
  reason: HookReason;
  ok: boolean;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
  /** ISO wall-clock start time. */
  startedAt: string;
  /** Freeze: the hook signalled READY and stays running. Thaw: the hook had a resident freeze process. */
  resident?: boolean;
  /** Thaw of a resident hook whose freeze process died before it was released. */
  brokenFreeze?: boolean;
  /** Thaw of a resident hook: how its freeze process ended when released. */
  release?: 'exited' | 'killed' | 'already-dead';
  /** What went wrong, in words, when not ok. */
  error?: string;
  /** Something off that did not fail the hook, e.g. a background process left holding its output. */
  note?: string;
}

/** Timing and plumbing options common to every invocation. All durations in ms. */
export interface RunnerOptions {
  /** Defaults to `systemClock`. Deadlines are on this clock's `now()` (monotonic). */
  clock?: Clock;
  /** Cap on one hook invocation. Default 30 000. */
  hookTimeoutMs?: number;
  /** Delay between SIGTERM and SIGKILL to a hook's process group. Default 1 000. */
  killGraceMs?: number;
  /** How long to keep reading output after the hook process exited. Default 100. */
  drainMs?: number;
  /** Thaw: how long a resident freeze process gets to exit after stdin EOF. Default 10 000 (and bounded by the deadline). */
  releaseTimeoutMs?: number;
  /** Thaw is never skipped: when the deadline has (almost) passed, it still gets this much. Default 2 000. */
  minThawMs?: number;
  /** Receives every output line of every hook, and runner notes. */
  onLog?: HookLogFn;
  /** Aborting terminates the running hook (SIGTERM, then SIGKILL after the grace) and stops the sequence. */
  signal?: AbortSignal;
  /** Starts each hook process (hook-spawn.ts). Default: posix_spawn (defaultHookSpawner); the operator commands pass execa's. */
  spawner?: HookSpawner;
}

export interface SequenceOptions extends RunnerOptions {
  reason: HookReason;
  /** The host message id, as a decimal string; empty or absent for manual runs. */
  msgid?: string;
  /** Absolute deadline of the request, in `clock.now()` milliseconds. Absent: only `hookTimeoutMs` applies. */
  deadline?: number;
  /** Called just before each hook of the sequence runs, so a display can show it as running. */
  onHookStart?: (hook: HookRef, op: HookOp) => void;
  /** Called with each hook's result as soon as it is known, before the sequence goes on. */
  onHookEnd?: (result: HookResult) => void;
}

export interface FreezeOptions extends SequenceOptions {
  /** Called as soon as a resident freeze process dies before being released (a broken freeze). */
  onBrokenFreeze?: (event: BrokenFreezeEvent) => void;
}

export interface RunHookOptions extends FreezeOptions {
  op: HookOp;
}
