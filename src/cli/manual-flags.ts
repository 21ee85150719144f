// Flags of the operator commands (check, freeze, thaw, status). Names, defaults and environment
// variables match the daemon's, so a manual run uses the same hooks, limits and state.
import { Flags } from '@oclif/core';
import { defaultPaths, socketIn } from '../daemon/paths.ts';
import { positiveSeconds } from './flags.ts';

const paths = defaultPaths();

export const secondsFlag = (summary: string, defaultValue: number) =>
  Flags.custom<number>({
    summary,
    default: defaultValue,
    helpValue: 'SECONDS',
    parse: async (input, _ctx, opts) => positiveSeconds(`--${opts.name}`, input),
  })();

export const hooksDirFlag = Flags.string({ summary: 'Directory of hook scripts.', env: 'HVVSS_HOOKS_DIR', default: paths.hooksDir, helpValue: 'DIR' });

export const stateDirFlag = Flags.string({
  summary: "The daemon's state directory: freeze journal, hooks lock, keeper socket.",
  env: 'HVVSS_STATE_DIR',
  default: paths.stateDir,
  helpValue: 'DIR',
});

export const statusSocketFlag = Flags.string({
  summary: "The daemon's status socket.",
  env: 'HVVSS_SOCKET',
  default: socketIn(paths.runDir),
  helpValue: 'PATH',
});

export const jsonFlag = Flags.boolean({ summary: 'Print one JSON document (for scripts and monitoring) instead of text.' });

/** The flags every hooks-running command shares. */
export const runFlags = {
  'hooks-dir': hooksDirFlag,
  timeout: secondsFlag('Limit for the whole check or freeze sequence (and for a thaw), like a host request.', 10),
  'hook-timeout': secondsFlag('Limit for one hook invocation (SIGTERM to its process group, SIGKILL after --kill-grace).', 8),
  'kill-grace': secondsFlag('Time between SIGTERM and SIGKILL for a hook (or the command) past its time.', 1),
  'state-dir': stateDirFlag,
  json: jsonFlag,
  'dry-run': Flags.boolean({ summary: 'List what would run, in order, with each hook\'s verdict; run nothing.' }),
  help: Flags.help({ char: 'h' }),
};
