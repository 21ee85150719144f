// Reaching a running keeper (see keeper.ts) on its socket, for "hvvss thaw" and "hvvss status".
// Apart from keeper-client.ts, which starts keepers from a file beside itself: status's bundle
// (scripts/build.ts) holds this and not that.
import { createConnection } from 'node:net';
import type { EmitFn } from './report.ts';
import type { KeeperReply, KeeperRequest, KeeperStatus, KeeperThawResult } from './keeper.ts';

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
