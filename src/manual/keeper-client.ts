// The command-line side of a keeper (see keeper.ts): start one for "hvvss freeze" and follow
// its freeze, or reach a running one on its socket for "hvvss thaw" and "hvvss status".
import { createConnection } from 'node:net';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { childProcess } from '../util/builtins.ts';
import type { EmitFn } from './report.ts';
import type { FromKeeper, KeeperReply, KeeperRequest, KeeperStatus, KeeperThawResult, ToKeeper } from './keeper.ts';
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

/** The keeper is not there (any more): its socket is missing or nobody listens on it. */
export class KeeperGoneError extends Error {}

function request<T>(socketPath: string, body: KeeperRequest, onReply: (reply: KeeperReply) => T | undefined, timeoutMs?: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let answered = false;
    let buffered = '';
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
      socket.destroy();
      reject(new Error(`the freeze keeper on ${socketPath} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify(body) + '\n'));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (answered) return;
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(new KeeperGoneError(`no freeze keeper listens on ${socketPath}`));
      else reject(new Error(`cannot reach the freeze keeper on ${socketPath}: ${err.message}`));
    });
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const reply = JSON.parse(buffered.slice(0, newline)) as KeeperReply;
        buffered = buffered.slice(newline + 1);
        if ('error' in reply) {
          answered = true;
          reject(new Error(`the freeze keeper refused the request: ${reply.error}`));
          continue;
        }
        const value = onReply(reply);
        if (value !== undefined && !answered) {
          answered = true;
          clearTimeout(timer);
          resolve(value);
          socket.end();
        }
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (!answered) reject(new KeeperGoneError(`the freeze keeper on ${socketPath} closed the connection without an answer`));
    });
  });
}

/** Asks the keeper to thaw now; its thaw's events go to `emit` as they happen. */
export function thawThroughKeeper(socketPath: string, emit: EmitFn, timeoutMs: number): Promise<KeeperThawResult> {
  return request(socketPath, { cmd: 'thaw', timeoutMs }, (reply) => {
    if ('event' in reply) emit(reply.event);
    return 'result' in reply ? reply.result : undefined;
  });
}

export function keeperStatus(socketPath: string, timeoutMs: number): Promise<KeeperStatus> {
  return request(socketPath, { cmd: 'status' }, (reply) => ('status' in reply ? reply.status : undefined), timeoutMs);
}
