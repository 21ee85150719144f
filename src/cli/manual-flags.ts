// Flags of the operator commands (check, freeze, thaw, status). Names, defaults and environment
// variables match the daemon's, so a manual run uses the same hooks, limits and state.
import { Flags } from '@oclif/core';
import { hooksDirFlag, secondsFlag, socketFlag, stateDirFlag } from './flags.ts';

export const jsonFlag = Flags.boolean({ summary: 'Print one JSON document (for scripts and monitoring) instead of text.' });

/** The flags every hooks-running command shares. */
export const runFlags = {
  'hooks-dir': hooksDirFlag,
  timeout: secondsFlag('Limit for the whole check or freeze sequence (and for a thaw), like a host request.', 10),
  'hook-timeout': secondsFlag('Limit for one hook invocation (SIGTERM to its process group, SIGKILL after --kill-grace).', 8),
  'kill-grace': secondsFlag('Time between SIGTERM and SIGKILL for a hook (or the command) past its time.', 1),
  'state-dir': stateDirFlag,
  socket: socketFlag,
  json: jsonFlag,
  'dry-run': Flags.boolean({ summary: 'List what would run, in order, with each hook\'s verdict; run nothing.' }),
  help: Flags.help({ char: 'h' }),
};
