// The hooks engine configured once (directory, timeouts, logging) behind a small interface, so
// the agent's logic can be tested with a fake and the daemon and manual commands share it.
import { resolve } from 'node:path';
import { checkAll, freezeAll, scanHooks, thawAll } from '../hooks/index.ts';
import type { BrokenFreezeEvent, FreezeResult, FrozenHook, HookLogLine, HookOp, HookReason, HookRef, HookResult, ScanResult, SequenceResult } from '../hooks/index.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../log/logger.ts';
import type { HookSpawner } from '../hooks/hook-spawn.ts';

export interface RunContext {
  readonly reason: HookReason;
  readonly msgid?: string;
  /** Absolute deadline on the clock; absent for thaws outside a host request (each hook gets its timeout). */
  readonly deadline?: number;
  readonly onBrokenFreeze?: (event: BrokenFreezeEvent) => void;
  /** Aborting stops check and freeze (the running hook is terminated); thaw ignores it. */
  readonly signal?: AbortSignal;
  /** Sees each hook start, its output lines and its result as they happen (the operator commands' display). */
  readonly observer?: HookObserver;
}

export interface HookObserver {
  onHookStart?(hook: HookRef, op: HookOp): void;
  onLog?(line: HookLogLine): void;
  onHookEnd?(result: HookResult): void;
}

export interface HookEngine {
  readonly dir: string;
  scan(): Promise<ScanResult>;
  check(scan: ScanResult, context: RunContext): Promise<SequenceResult>;
  freeze(scan: ScanResult, context: RunContext): Promise<FreezeResult>;
  thaw(frozen: readonly FrozenHook[], context: RunContext): Promise<SequenceResult>;
}

export interface HookEngineSettings {
  readonly dir: string;
  readonly trustedUids: readonly number[];
  readonly hookTimeoutMs: number;
  readonly killGraceMs: number;
  readonly clock: Clock;
  readonly log: Logger;
  /** Starts the hook processes (src/hooks/hook-spawn.ts); posix_spawn (defaultHookSpawner) when absent. */
  readonly spawner?: HookSpawner;
}

export function describeResult(result: HookResult): string {
  const how = result.timedOut
    ? 'timed out'
    : result.signal
      ? `killed by ${result.signal}`
      : result.exitCode === null
        ? 'did not run'
        : `exit ${result.exitCode}`;
  const extra = [result.resident ? 'resident' : '', result.brokenFreeze ? 'BROKEN FREEZE' : '', result.error ?? '', result.note ?? '']
    .filter(Boolean)
    .join('; ');
  return `hook ${result.hook} ${result.op} (${result.reason}): ${result.ok ? 'ok' : 'FAILED'}, ${how}, ${Math.round(result.durationMs)} ms${extra ? ` (${extra})` : ''}`;
}

export function logHookLine(log: Logger, line: HookLogLine): void {
  if (line.stream === 'runner') log.warn(`[${line.hook}] ${line.line}`);
  else log.info(`[${line.hook}] ${line.line}`);
}

export function createHookEngine(settings: HookEngineSettings): HookEngine {
  const { log } = settings;
  const common = {
    clock: settings.clock,
    hookTimeoutMs: settings.hookTimeoutMs,
    killGraceMs: settings.killGraceMs,
    ...(settings.spawner ? { spawner: settings.spawner } : {}),
  };
  const options = (context: RunContext) => {
    const observer = context.observer;
    return {
      ...common,
      reason: context.reason,
      onLog: (line: HookLogLine) => {
        logHookLine(log, line);
        observer?.onLog?.(line);
      },
      ...(context.msgid === undefined ? {} : { msgid: context.msgid }),
      ...(context.deadline === undefined ? {} : { deadline: context.deadline }),
      ...(context.signal === undefined ? {} : { signal: context.signal }),
      ...(observer?.onHookStart ? { onHookStart: observer.onHookStart.bind(observer) } : {}),
      ...(observer?.onHookEnd ? { onHookEnd: observer.onHookEnd.bind(observer) } : {}),
    };
  };
  const report = <T extends SequenceResult>(result: T): T => {
    for (const r of result.results) (r.ok ? log.info : log.error).call(log, describeResult(r));
    for (const problem of result.problems) log.error(problem);
    return result;
  };
  return {
    dir: resolve(settings.dir),
    async scan() {
      const scan = await scanHooks(settings.dir, { trustedUids: [...settings.trustedUids] });
      if (scan.problem) log.error(`hooks directory: ${scan.problem.message}`);
      for (const entry of scan.entries) {
        if (entry.verdict === 'skipped') log.debug(`hook ${entry.name} skipped: ${entry.why}`);
        if (entry.verdict === 'refused') log.error(`hook ${entry.name} REFUSED: ${entry.why}`);
      }
      return scan;
    },
    check: async (scan, context) => report(await checkAll(scan, options(context))),
    freeze: async (scan, context) =>
      report(await freezeAll(scan, { ...options(context), ...(context.onBrokenFreeze ? { onBrokenFreeze: context.onBrokenFreeze } : {}) })),
    thaw: async (frozen, context) => report(await thawAll(frozen, options(context))),
  };
}
