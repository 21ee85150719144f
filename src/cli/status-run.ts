// What `hvvss status` does once its flags are parsed, shared by the oclif command and the fast
// path of bin/run.cjs (status-fast.ts): gather, render, print, and the exit status to end with.
import { renderPrometheus, renderStatus } from '../status/render.ts';
import { gatherStatus } from '../status/status.ts';
import { tryLoadFsPolicy, type FsPolicyFlagValues } from '../fs/fs-policy.ts';
import { processTrustedUids } from '../hooks/trusted-path.ts';

export interface StatusFlagValues extends FsPolicyFlagValues {
  readonly json: boolean;
  readonly prometheus: boolean;
  readonly socket: string;
  readonly pidfile: string;
  readonly 'state-dir': string;
  readonly 'hooks-dir': string;
}

/** Prints the status; resolves with the exit status once the text is written. */
export async function runStatus(flags: StatusFlagValues): Promise<number> {
  const report = await gatherStatus({ socket: flags.socket, pidfile: flags.pidfile, stateDir: flags['state-dir'], hooksDir: flags['hooks-dir'], fsPolicy: tryLoadFsPolicy(flags, processTrustedUids()) });
  const text = flags.json ? JSON.stringify(report, null, 2) + '\n' : flags.prometheus ? renderPrometheus(report) : renderStatus(report);
  await new Promise<void>((resolve) => process.stdout.write(text, () => resolve()));
  return report.exitCode;
}
