// The command-line side of a keeper (see keeper.ts): start one for "hvvss freeze" and follow
// its freeze. A running one is reached on its socket through keeper-connection.ts.
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { childProcess } from '../util/builtins.ts';
import type { EmitFn } from './report.ts';
import type { FromKeeper, ToKeeper } from './keeper.ts';
import type { ManualSettings } from './session.ts';

const self = fileURLToPath(import.meta.url);
/** keeper-main.ts next to this file (keeper-main.js once built). */
const KEEPER_MAIN = fileURLToPath(new URL(`./keeper-main${extname(self)}`, import.meta.url));

export type KeeperDone = FromKeeper & { type: 'done' };

/**
 * Starts a keeper that freezes and holds the freeze; forwards its events to `emit` and resolves
 * with its report. Aborting `interrupt` (Ctrl-C) asks it to stop the freeze and roll back.
 */
export async function freezeWithKeeper(settings: ManualSettings, emit: EmitFn, interrupt: AbortSignal): Promise<KeeperDone> {
  // Loaded only here (childProcess()): hvvss status imports this module for keeperStatus() and never spawns.
  const child = childProcess().spawn(process.execPath, [KEEPER_MAIN], {
    // Its own session: a Ctrl-C or a closed terminal reaches the command line, not the keeper.
    detached: true,
    // cwd /: the keeper must not keep the operator's directory (a file system) busy.
    cwd: '/',
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
  });
  return new Promise((resolve) => {
    let settled = false;
    const settle = (done: KeeperDone) => {
      if (settled) return;
      settled = true;
      interrupt.removeEventListener('abort', onAbort);
      if (child.connected) child.disconnect();
      child.unref();
      resolve(done);
    };
    const onAbort = () => {
      if (child.connected) child.send({ type: 'abort', why: String(interrupt.reason ?? 'interrupted') } satisfies ToKeeper);
    };
    interrupt.addEventListener('abort', onAbort, { once: true });
    child.on('message', (message: FromKeeper) => {
      if (message.type === 'event') emit(message.event);
      else settle(message);
    });
    child.once('error', (err) =>
      settle({ type: 'done', ok: false, steps: [], problem: `cannot start the freeze keeper (${err.message}); nothing was frozen` }),
    );
    child.once('exit', (code, signal) =>
      settle({
        type: 'done',
        ok: false,
        steps: [],
        problem:
          `the freeze keeper (pid ${child.pid}) ended (${signal ?? `exit ${code}`}) before reporting: ` +
          'run "hvvss status" to see whether anything is recorded as frozen, and "hvvss thaw" to thaw it',
      }),
    );
    child.send({ type: 'start', settings } satisfies ToKeeper);
  });
}
