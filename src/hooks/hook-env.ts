// The environment of a hook: fixed and minimal, nothing inherited from the daemon.
import type { HookOp, HookReason } from './types.ts';

export const HOOK_PATH = '/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin';

/** File descriptor a freeze hook writes `READY` to, to become resident. */
export const NOTIFY_FD = 3;

export interface HookEnvInput {
  op: HookOp;
  reason: HookReason;
  hook: string;
  /** Decimal message id; empty for manual runs. */
  msgid?: string;
  /** Whole seconds left until the request deadline, at the start of this hook. */
  deadlineSeconds: number;
}

/** The complete environment of a hook invocation (to be used with `extendEnv: false`). */
export function buildHookEnv(input: HookEnvInput): Record<string, string> {
  const env: Record<string, string> = {
    PATH: HOOK_PATH,
    HOME: '/',
    LANG: 'C',
    HVVSS_OP: input.op,
    HVVSS_REASON: input.reason,
    HVVSS_MSGID: input.msgid ?? '',
    HVVSS_DEADLINE: String(Math.max(0, Math.floor(input.deadlineSeconds))),
    HVVSS_HOOK: input.hook,
  };
  if (input.op === 'freeze') env.HVVSS_NOTIFY_FD = String(NOTIFY_FD);
  return env;
}
