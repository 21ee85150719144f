// The daemon's root-only socket: one JSON request line per connection, answered with JSON lines.
// `status` gets the daemon's snapshot as one document. `check`, `freeze` and `thaw` are the
// operator commands run by the daemon itself, with its one freeze engine (the hooks lock it
// already holds, its watchdog, its journal): their events stream back as they happen, then one
// `done`. A `freeze` with `holdWhileConnected` (hvvss freeze -- COMMAND) lasts as long as the
// connection: the client sends `{"cmd":"thaw"}` on it when done, and a connection that closes
// first is thawed all the same. Plain data only.
import type { FrozenInfo, RunEvent, StepReport } from './report.ts';
import type { LockHolder } from '../state/lock-holder.ts';

export type DaemonRequest =
  | { readonly cmd: 'status' }
  | { readonly cmd: 'check'; readonly hooksDir: string; readonly timeoutMs: number }
  | { readonly cmd: 'freeze'; readonly hooksDir: string; readonly timeoutMs: number; readonly maxFrozenMs: number; readonly holdWhileConnected?: boolean; readonly command?: string }
  | { readonly cmd: 'thaw'; readonly hooksDir: string; readonly timeoutMs: number };

export type ManualRequest = Exclude<DaemonRequest, { readonly cmd: 'status' }>;

export interface DaemonOutcome {
  readonly ok: boolean;
  readonly steps: readonly StepReport[];
  /** A freeze the daemon now holds. */
  readonly frozen?: FrozenInfo;
  readonly problem?: string;
  /** Nothing ran: busy (exit 3) or not possible through this daemon (exit 1). */
  readonly refused?: { readonly message: string; readonly busy: boolean; readonly holder?: LockHolder };
  /** thaw: the daemon holds no manual freeze (one may be held by a keeper). */
  readonly nothingHeld?: true;
}

export type DaemonReply = { readonly event: RunEvent } | { readonly done: DaemonOutcome } | { readonly error: string };

/** A request line longer than this is not ours. */
export const MAX_REQUEST_BYTES = 4096;
