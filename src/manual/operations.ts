// hvvss check, freeze and thaw as plain functions: they run the hooks (in this process, or in a
// keeper for a freeze that outlives the command), send events to a display and return the
// report from which the command prints its verdict or JSON document and takes its exit status.
import { readTextAsync } from '../util/fs-async.ts';
import { constants } from 'node:os';
import { adviceFor, describeHolder, HooksLock, pidAlive, type LockHolder } from '../state/hooks-lock.ts';
import { hooksLockIn } from '../state/paths.ts';
import type { FrozenRecord } from '../state/freeze-journal.ts';
import { freezeWithKeeper } from './keeper-client.ts';
import { KeeperGoneError, thawThroughKeeper } from './keeper-connection.ts';
import { askDaemon, freezeHeldByDaemon } from './daemon-client.ts';
import { runWhileFrozen, shellQuote } from './run-command.ts';
import { EXIT, firstFailure, plural, type DryRunEntry, type DryRunReport, type EmitFn, type ManualCommand, type ManualReport, type StepReport } from './report.ts';
import { ManualSession, type Claimed, type ManualSettings } from './session.ts';
import { diagnoseFs, type FsDiagnosis } from '../fs/diagnosis.ts';
import type { FsPolicy } from '../fs/mount-plan.ts';

export interface OperationContext {
  readonly settings: ManualSettings;
  readonly emit: EmitFn;
  /** Aborted with the signal's name on SIGINT/SIGTERM/SIGHUP. */
  readonly interrupt: AbortSignal;
}

/** 128 + the signal's number, as a shell reports a command killed by it. */
export function signalStatus(signal: string | undefined): number {
  const number = signal ? (constants.signals as Record<string, number>)[signal] : undefined;
  return number === undefined ? EXIT.failed : 128 + number;
}

function interruptedStatus(interrupt: AbortSignal): number | undefined {
  return interrupt.aborted ? signalStatus(String(interrupt.reason)) : undefined;
}

function refusedReport(command: ManualCommand, claim: Claimed & { ok: false }, hooksDir: string): ManualReport {
  const { message, busy, holder } = claim;
  return {
    command,
    ok: false,
    exitCode: busy ? EXIT.busy : EXIT.failed,
    summary: `${command} refused: ${message}`,
    hooksDir,
    steps: [],
    refused: holder ? { message, busy, holder } : { message, busy },
  };
}

function failures(step: StepReport): string {
  const failed = step.hooks.filter((h) => !h.ok).length;
  if (failed <= 1 || step.hooks.length === 0) return firstFailure(step);
  return `${failed} of ${plural(step.hooks.length, 'hook')} failed (first: ${firstFailure(step)})`;
}

function rollbackText(rollback: StepReport | undefined): string {
  if (!rollback) return '';
  if (rollback.hooks.length === 0) return '; nothing to roll back';
  return rollback.ok ? `; rolled back ${plural(rollback.hooks.length, 'hook')}` : `; the rollback failed too: ${failures(rollback)}`;
}

/** A step that ran no hook (nothing to check); the daemon sends none when nothing ran. */
const noStep = (op: StepReport['op']): StepReport => ({ op, reason: 'manual', ok: true, hooks: [], problems: [] });

export async function runCheck(context: OperationContext): Promise<ManualReport> {
  const { settings, emit, interrupt } = context;
  const hooksDir = settings.hooksDir;
  // A running daemon runs the hooks itself (one engine for the machine); otherwise we do.
  const viaDaemon = await askDaemon(settings.socket, { cmd: 'check', hooksDir, timeoutMs: settings.timeoutMs }, emit, interrupt);
  if (viaDaemon?.refused) return refusedReport('check', { ok: false, ...viaDaemon.refused }, hooksDir);
  let step: StepReport;
  if (viaDaemon) {
    step = viaDaemon.steps[0] ?? noStep('check');
  } else {
    const session = new ManualSession(settings, { emit });
    const claim = session.claim({ op: 'check' });
    if (!claim.ok) return refusedReport('check', claim, hooksDir);
    try {
      step = await session.check(interrupt);
    } finally {
      session.lock.release();
    }
  }
  const exitCode = step.ok ? EXIT.ok : (interruptedStatus(interrupt) ?? EXIT.failed);
  const summary = step.ok
    ? step.hooks.length === 0
      ? `check: no hooks to run in ${hooksDir}`
      : `check: ${plural(step.hooks.length, 'hook')} ok`
    : `check failed: ${failures(step)}`;
  return { command: 'check', ok: step.ok, exitCode, summary, hooksDir, steps: [step] };
}

/** hvvss freeze without a command: a keeper freezes and holds the freeze until hvvss thaw or --max-frozen. */
export async function runFreeze(context: OperationContext): Promise<ManualReport> {
  const { settings, emit, interrupt } = context;
  const hooksDir = settings.hooksDir;
  // A running daemon holds the freeze itself (with its watchdog); otherwise a keeper does.
  const request = { cmd: 'freeze', hooksDir, timeoutMs: settings.timeoutMs, maxFrozenMs: settings.maxFrozenMs } as const;
  const done = (await askDaemon(settings.socket, request, emit, interrupt)) ?? (await freezeWithKeeper(settings, emit, interrupt));
  if (done.refused) {
    return refusedReport('freeze', { ok: false, ...done.refused }, hooksDir);
  }
  const steps = done.steps;
  if (done.ok && done.frozen) {
    const { frozen } = done;
    const inSeconds = Math.max(0, Math.round((Date.parse(frozen.autoThawAt) - Date.now()) / 100) / 10);
    const summary =
      `frozen: ${plural(frozen.hooks.length, 'hook')}, held by pid ${frozen.pid}; run "hvvss thaw" to thaw ` +
      `(automatic thaw at ${frozen.autoThawAt}, in ${inSeconds} s)`;
    return { command: 'freeze', ok: true, exitCode: EXIT.ok, summary, hooksDir, steps, frozen };
  }
  const freeze = steps.find((s) => s.op === 'freeze');
  const rollback = steps.find((s) => s.op === 'thaw');
  const why = done.problem ?? (freeze ? failures(freeze) : 'failed');
  const summary = `freeze failed: ${why}${done.problem && freeze?.ok ? '' : rollbackText(rollback)}`;
  return { command: 'freeze', ok: false, exitCode: interruptedStatus(interrupt) ?? EXIT.failed, summary, hooksDir, steps };
}

export interface FreezeCommandOptions {
  readonly argv: readonly string[];
  /** Where the command's standard output goes: ours, or our stderr when stdout carries JSON. */
  readonly stdout: 'inherit' | 'stderr';
  /** Resolves once the display has drawn everything so far: the command then owns the terminal. */
  readonly settled: () => Promise<void>;
}

/** A freeze that this command holds while its command runs: through the daemon, or its own. */
interface CommandFreeze {
  readonly ok: boolean;
  readonly steps: readonly StepReport[];
  readonly problem?: string;
  readonly frozen?: { readonly hooks: number; readonly since: Date };
  thaw(reason: 'manual' | 'watchdog'): Promise<StepReport>;
  release(): void;
}

async function holdFreeze(context: OperationContext, commandText: string): Promise<CommandFreeze | ManualReport> {
  const { settings, emit, interrupt } = context;
  const hooksDir = settings.hooksDir;
  const request = { cmd: 'freeze', hooksDir, timeoutMs: settings.timeoutMs, maxFrozenMs: settings.maxFrozenMs, command: commandText } as const;
  const held = await freezeHeldByDaemon(settings.socket, request, emit, interrupt);
  if (held) {
    const { outcome } = held;
    if (outcome.refused) return refusedReport('freeze', { ok: false, ...outcome.refused }, hooksDir);
    return {
      ok: outcome.ok,
      steps: outcome.steps,
      ...(outcome.problem === undefined ? {} : { problem: outcome.problem }),
      ...(outcome.frozen ? { frozen: { hooks: outcome.frozen.hooks.length, since: new Date(outcome.frozen.since) } } : {}),
      thaw: async () => (await held.thaw()).steps[0] ?? noStep('thaw'),
      release: () => {},
    };
  }
  const session = new ManualSession(settings, { emit });
  const claim = session.claim({ op: 'freeze', command: commandText });
  if (!claim.ok) return refusedReport('freeze', claim, hooksDir);
  const outcome = await session.freeze(interrupt, { command: commandText });
  return {
    ok: outcome.ok,
    steps: outcome.steps,
    ...(outcome.problem === undefined ? {} : { problem: outcome.problem }),
    ...(outcome.frozen ? { frozen: { hooks: outcome.frozen.hooks.length, since: outcome.frozen.since } } : {}),
    thaw: (reason) => session.thaw(reason, settings.timeoutMs),
    release: () => session.lock.release(),
  };
}

/** hvvss freeze -- COMMAND: freeze, run the command while frozen, thaw whatever happens. */
export async function runFreezeCommand(context: OperationContext, options: FreezeCommandOptions): Promise<ManualReport> {
  const { settings, emit, interrupt } = context;
  const hooksDir = settings.hooksDir;
  const commandText = shellQuote(options.argv);
  const freeze = await holdFreeze(context, commandText);
  if ('command' in freeze) return freeze;
  try {
    if (!freeze.frozen || !freeze.ok) {
      const first = freeze.steps[0];
      const why = freeze.problem ?? (first ? failures(first) : 'failed');
      return {
        command: 'freeze',
        ok: false,
        exitCode: interruptedStatus(interrupt) ?? EXIT.failed,
        summary: `freeze failed: ${why}${rollbackText(freeze.steps[1])}; ${commandText} was not run`,
        hooksDir,
        steps: freeze.steps,
      };
    }
    const { hooks, since } = freeze.frozen;
    const autoThawAt = new Date(since.getTime() + settings.maxFrozenMs);
    await options.settled();
    emit({ type: 'note', level: 'info', text: `frozen ${plural(hooks, 'hook')}; running ${commandText} (thawed after it, or at ${autoThawAt.toISOString()} at the latest)` });
    await options.settled();
    const run = await runWhileFrozen(options.argv, {
      stdout: options.stdout,
      untilThawMs: autoThawAt.getTime() - Date.now(),
      killGraceMs: settings.killGraceMs,
      interrupt,
      note: (text) => emit({ type: 'note', level: 'warn', text }),
    });
    const thaw = await freeze.thaw(run.overdue ? 'watchdog' : 'manual');
    const steps = [...freeze.steps, thaw];
    let status = run.exitCode ?? signalStatus(run.signal ?? undefined);
    if (run.exitCode === 0 && run.stopped) status = interruptedStatus(interrupt) ?? EXIT.failed;
    if (status === 0 && !thaw.ok) status = EXIT.failed;
    const how = run.stopped ? `${commandText} was stopped (${run.stopped})` : run.signal ? `${commandText} was killed by ${run.signal}` : `${commandText} exited with status ${run.exitCode}`;
    const summary = thaw.ok ? `${how}; thawed ${plural(thaw.hooks.length, 'hook')}` : `${how}; the thaw failed: ${failures(thaw)}`;
    const { overdue: _overdue, ...commandRun } = run;
    return { command: 'freeze', ok: status === 0, exitCode: status, summary, hooksDir, steps, run: commandRun };
  } finally {
    freeze.release();
  }
}

/** The last thaw the journal remembers, for "nothing is frozen" (read only). */
async function lastThaw(path: string): Promise<string> {
  try {
    const data = JSON.parse(await readTextAsync(path)) as { lastThaw?: { at?: string; reason?: string; ok?: boolean } };
    const last = data.lastThaw;
    return last?.at ? ` (last thaw at ${last.at}, ${last.reason}${last.ok === false ? ', FAILED' : ''})` : '';
  } catch {
    return '';
  }
}

/** hvvss thaw: thaws exactly what the journal records, through its keeper if alive, else from the journal. */
export async function runThaw(context: OperationContext): Promise<ManualReport> {
  const { settings, emit, interrupt } = context;
  const hooksDir = settings.hooksDir;
  // A manual freeze the daemon holds is thawed by the daemon; anything else as before.
  const viaDaemon = await askDaemon(settings.socket, { cmd: 'thaw', hooksDir, timeoutMs: settings.timeoutMs }, emit, interrupt);
  if (viaDaemon?.refused) return refusedReport('thaw', { ok: false, ...viaDaemon.refused }, hooksDir);
  if (viaDaemon && !viaDaemon.nothingHeld) return thawReport(viaDaemon.steps[0] ?? noStep('thaw'), 'held by the daemon', hooksDir);
  const session = new ManualSession(settings, { emit });
  // The keeper may finish its automatic thaw while we look: then look again.
  for (let attempt = 1; ; attempt++) {
    let record: FrozenRecord | undefined;
    try {
      record = await session.journal.read();
    } catch (err) {
      return { command: 'thaw', ok: false, exitCode: EXIT.failed, summary: `thaw failed: ${(err as Error).message}`, hooksDir, steps: [] };
    }
    if (!record) {
      return { command: 'thaw', ok: true, exitCode: EXIT.ok, summary: `nothing is frozen${await lastThaw(session.journal.path)}: nothing to thaw`, hooksDir, steps: [] };
    }
    const claim = session.claim({ op: 'thaw' });
    if (claim.ok) {
      try {
        emit({
          type: 'note',
          level: 'warn',
          text:
            `the freeze journal records ${plural(record.hooks.length, 'hook')} frozen since ${record.since} by ${record.holder.kind} pid ${record.holder.pid}, ` +
            'which is gone: thawing them from the journal',
        });
        const step = await session.recover(record, settings.timeoutMs);
        return thawReport(step, `frozen since ${record.since}, holder pid ${record.holder.pid} gone`, hooksDir);
      } finally {
        session.lock.release();
      }
    }
    const keeper = claim.holder?.kind === 'manual' ? claim.holder.keeper : undefined;
    if (keeper === undefined || !claim.busy) return refusedReport('thaw', claim, hooksDir);
    try {
      const result = await thawThroughKeeper(keeper, emit, settings.timeoutMs);
      const by = result.reason === 'manual' ? `frozen since ${record.since}` : `already being thawed by ${result.by}`;
      return thawReport(result.step, by, hooksDir);
    } catch (err) {
      if (!(err instanceof KeeperGoneError) || attempt >= 3) {
        return { command: 'thaw', ok: false, exitCode: EXIT.failed, summary: `thaw failed: ${(err as Error).message}; run "hvvss status" to see what is frozen`, hooksDir, steps: [] };
      }
    }
  }
}

function thawReport(step: StepReport, what: string, hooksDir: string): ManualReport {
  const summary = step.ok ? `thawed ${plural(step.hooks.length, 'hook')} (${what})` : `thaw failed: ${failures(step)}; every other hook was thawed`;
  return { command: 'thaw', ok: step.ok, exitCode: step.ok ? EXIT.ok : EXIT.failed, summary, hooksDir, steps: [step] };
}

/** Who holds the hooks now, told without taking the lock (a dry run writes nothing): for display only. */
function liveHolder(stateDir: string): LockHolder | undefined {
  const holder = HooksLock.readHolder(hooksLockIn(stateDir));
  return holder && pidAlive(holder.pid) ? holder : undefined;
}

/** A dry run of check or freeze also tells what the file systems would go through (the fs role's plan, hv_vss_daemon's verdict). */
export type DryRunWithFs = DryRunReport & { readonly fs?: FsDiagnosis | { readonly error: string } };

/**
 * --dry-run: what would run, in order, with each hook's verdict; runs nothing, writes nothing.
 * With `fs` (check and freeze), the mount plan under that policy too; it never changes the exit
 * status, which is the hooks' (the plan is the fs role's, which this command does not take).
 */
export async function dryRun(command: ManualCommand, settings: ManualSettings, fs?: FsPolicy | Error): Promise<DryRunWithFs> {
  const report = await dryRunHooks(command, settings);
  if (!fs || command === 'thaw') return report;
  return { ...report, fs: await diagnoseFs(fs) };
}

async function dryRunHooks(command: ManualCommand, settings: ManualSettings): Promise<DryRunReport> {
  const session = new ManualSession(settings, { emit: () => {} });
  const holder = liveHolder(settings.stateDir);
  const busy = holder ? `; it would be refused now: ${describeHolder(holder, session.lock.path)} (${adviceFor(holder)})` : '';
  const base = { command, dryRun: true as const, hooksDir: settings.hooksDir, ...(holder ? { holder } : {}) };
  if (command === 'thaw') {
    let record: FrozenRecord | undefined;
    try {
      record = await session.journal.read();
    } catch (err) {
      return { ...base, ok: false, exitCode: EXIT.failed, summary: `thaw would fail: ${(err as Error).message}`, entries: [] };
    }
    if (!record) return { ...base, ok: true, exitCode: EXIT.ok, summary: 'nothing is frozen: nothing would run', entries: [] };
    const entries: DryRunEntry[] = [...record.hooks].reverse().map((hook, i) => ({ name: hook.name, verdict: 'frozen', order: i + 1 }));
    const alive = pidAlive(record.holder.pid) ? 'alive' : 'gone';
    return {
      ...base,
      ok: true,
      exitCode: EXIT.ok,
      summary: `would thaw ${plural(entries.length, 'hook')} in this order: ${entries.map((e) => e.name).join(', ')} (frozen since ${record.since} by ${record.holder.kind} pid ${record.holder.pid}, ${alive})`,
      entries,
    };
  }
  const scan = await session.hooks.scan();
  let order = 0;
  const entries: DryRunEntry[] = scan.entries.map((e) =>
    e.verdict === 'runnable' ? { name: e.name, verdict: e.verdict, order: ++order } : { name: e.name, verdict: e.verdict, why: e.why ?? '' },
  );
  if (scan.problem) {
    return { ...base, ok: false, exitCode: EXIT.failed, summary: `${command} would fail, nothing would run: ${scan.problem.message}`, entries };
  }
  if (scan.refused.length > 0) {
    const refused = scan.refused.map((e) => `${e.name} (${e.why})`).join(', ');
    return { ...base, ok: false, exitCode: EXIT.failed, summary: `${command} would fail, nothing would run: refused ${plural(scan.refused.length, 'hook')}: ${refused}`, entries };
  }
  const names = scan.runnable.map((e) => e.name);
  const summary = names.length === 0 ? `no hooks would run in ${scan.dir}` : `would ${command} ${plural(names.length, 'hook')} in this order: ${names.join(', ')}${command === 'freeze' ? ' (and thaw them in reverse)' : ''}`;
  return { ...base, ok: !holder, exitCode: holder ? EXIT.busy : EXIT.ok, summary: summary + busy, entries };
}
