// The operator commands' side of the daemon's socket (see daemon-protocol.ts): when a daemon
// runs, hvvss check, freeze and thaw ask it to run the hooks with its own engine, and show its
// events as they come. No daemon listening: undefined, and the command runs the hooks itself.
import { createConnection, type Socket } from 'node:net';
import { LineSplitter } from '../util/line-splitter.ts';
import type { DaemonOutcome, DaemonReply, ManualRequest } from './daemon-protocol.ts';
import type { EmitFn } from './report.ts';

/** A conversation with the daemon about one request; `outcome` is its first `done`. */
interface Conversation {
  readonly socket: Socket;
  readonly next: () => Promise<DaemonOutcome>;
}

function converse(socketPath: string, request: ManualRequest, emit: EmitFn, interrupt: AbortSignal): Promise<Conversation | undefined> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path: socketPath, allowHalfOpen: true });
    const outcomes: DaemonOutcome[] = [];
    const waiting: Array<{ resolve: (o: DaemonOutcome) => void; reject: (e: Error) => void }> = [];
    let failure: Error | undefined;
    const fail = (err: Error) => {
      failure ??= err;
      for (const w of waiting.splice(0)) w.reject(failure);
    };
    const lines = new LineSplitter((line) => {
      let reply: DaemonReply;
      try {
        reply = JSON.parse(line) as DaemonReply;
      } catch {
        return fail(new Error(`the daemon on ${socketPath} sent something that is not a JSON line`));
      }
      if ('event' in reply) emit(reply.event);
      else if ('error' in reply) fail(new Error(`the daemon refused the request: ${reply.error}`));
      else {
        const w = waiting.shift();
        if (w) w.resolve(reply.done);
        else outcomes.push(reply.done);
      }
    });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => lines.push(chunk));
    const onInterrupt = () => socket.end();
    socket.once('connect', () => {
      socket.write(JSON.stringify(request) + '\n');
      interrupt.addEventListener('abort', onInterrupt, { once: true });
      resolve({
        socket,
        next: () =>
          new Promise<DaemonOutcome>((res, rej) => {
            const ready = outcomes.shift();
            if (ready) return res(ready);
            if (failure) return rej(failure);
            waiting.push({ resolve: res, reject: rej });
          }),
      });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // No daemon: the command runs the hooks itself.
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') return resolve(undefined);
      const message = err.code === 'EACCES' ? `permission denied on the daemon's socket ${socketPath}: run as root` : `cannot reach the daemon on ${socketPath}: ${err.message}`;
      reject(new Error(message));
      fail(new Error(message));
    });
    socket.on('close', () => {
      interrupt.removeEventListener('abort', onInterrupt);
      fail(new Error(`the daemon on ${socketPath} closed the connection without an answer`));
    });
  });
}

/** Has the daemon run `request`; undefined when no daemon listens on `socketPath`. */
export async function askDaemon(socketPath: string, request: ManualRequest, emit: EmitFn, interrupt: AbortSignal): Promise<DaemonOutcome | undefined> {
  const conversation = await converse(socketPath, request, emit, interrupt);
  return conversation?.next();
}

export interface HeldFreeze {
  readonly outcome: DaemonOutcome;
  /** Asks the daemon to thaw the freeze this connection holds, and waits for the thaw's outcome. */
  thaw(): Promise<DaemonOutcome>;
}

/**
 * hvvss freeze -- COMMAND through the daemon: a freeze that lasts as long as this connection (the
 * daemon thaws it if we die). Undefined when no daemon listens.
 */
export async function freezeHeldByDaemon(socketPath: string, request: ManualRequest & { cmd: 'freeze' }, emit: EmitFn, interrupt: AbortSignal): Promise<HeldFreeze | undefined> {
  // An interrupt stops the freeze while it runs; once frozen, the caller stops its command and thaws.
  const untilFrozen = new AbortController();
  const forward = () => untilFrozen.abort(interrupt.reason);
  interrupt.addEventListener('abort', forward, { once: true });
  let outcome: DaemonOutcome;
  let conversation: Conversation | undefined;
  try {
    conversation = await converse(socketPath, { ...request, holdWhileConnected: true }, emit, untilFrozen.signal);
    if (!conversation) return undefined;
    outcome = await conversation.next();
  } finally {
    interrupt.removeEventListener('abort', forward);
  }
  const held = conversation;
  return {
    outcome,
    thaw: async () => {
      if (!outcome.frozen) return { ok: true, steps: [], nothingHeld: true };
      held.socket.write('{"cmd":"thaw"}\n');
      return held.next();
    },
  };
}
