// What hvvss check, freeze and thaw share as commands: settings from flags, the display,
// Ctrl-C/SIGTERM/SIGHUP turned into an abort (the run stops its hooks and thaws), the dry run,
// and the exit status.
import { chooseDisplay } from '../manual/display.ts';
import type { Display } from '../manual/report.ts';
import { dryRun, type OperationContext } from '../manual/operations.ts';
import type { ManualCommand, ManualReport } from '../manual/report.ts';
import type { ManualSettings } from '../manual/session.ts';
import { execaHookSpawner } from '../hooks/hook-spawn-execa.ts';

export interface RunFlagValues {
  readonly 'hooks-dir': string;
  readonly timeout: number;
  readonly 'hook-timeout': number;
  readonly 'kill-grace': number;
  readonly 'state-dir': string;
  readonly socket: string;
  readonly json: boolean;
  readonly 'dry-run': boolean;
  readonly 'max-frozen'?: number;
}

export function settingsFrom(flags: RunFlagValues): ManualSettings {
  return {
    hooksDir: flags['hooks-dir'],
    stateDir: flags['state-dir'],
    socket: flags.socket,
    timeoutMs: flags.timeout * 1000,
    hookTimeoutMs: flags['hook-timeout'] * 1000,
    killGraceMs: flags['kill-grace'] * 1000,
    maxFrozenMs: (flags['max-frozen'] ?? 60) * 1000,
    // execa stays the operator commands' process library; the daemon and the keeper use posix_spawn.
    spawner: execaHookSpawner,
  };
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Runs one operator command to its exit status. */
export async function runManualCommand(
  command: ManualCommand,
  flags: RunFlagValues,
  operation: (context: OperationContext, display: Display) => Promise<ManualReport>,
): Promise<number> {
  const settings = settingsFrom(flags);
  const display = await chooseDisplay({ json: flags.json });
  if (flags['dry-run']) {
    const report = await dryRun(command, settings);
    await display.finish(report);
    return report.exitCode;
  }
  const interrupt = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupt.signal.aborted) return;
    const what = { check: 'stopping the hooks', freeze: 'stopping, then thawing what was frozen', thaw: 'a thaw always runs to the end: waiting for it' }[command];
    display.emit({ type: 'note', level: 'warn', text: `${signal} received: ${what}` });
    interrupt.abort(signal);
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  try {
    const report = await operation({ settings, emit: display.emit, interrupt: interrupt.signal }, display);
    await display.finish(report);
    return report.exitCode;
  } finally {
    for (const signal of SIGNALS) process.off(signal, onSignal);
  }
}
