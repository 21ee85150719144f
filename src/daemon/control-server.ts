// The daemon's root-only Unix socket (see src/manual/daemon-protocol.ts): `hvvss status` reads
// its snapshot, and the operator commands have the daemon run check, freeze and thaw. Nothing
// here touches the disk, so it answers while file systems are frozen.
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { prepareStateDir } from '../state/index.ts';
import { LineSplitter } from '../util/line-splitter.ts';
import { listenOwnerOnly } from '../util/unix-listen.ts';
import { MAX_REQUEST_BYTES, type DaemonOutcome, type DaemonReply, type DaemonRequest, type ManualRequest } from '../manual/daemon-protocol.ts';
import type { RunEvent } from '../manual/report.ts';

/**
 * Clients must not grow the daemon: a few at a time, each given a short while to send its
 * request and to take a status document before it is dropped. A manual run's connection has no
 * such limit once its request is read (a freeze -- COMMAND lasts as long as the command).
 */
export const CONTROL_LIMITS = { connections: 16, timeoutMs: 2_000 } as const;

/** One manual run's connection, as its handler sees it. */
export interface ManualConnection {
  send(event: RunEvent): void;
  /** Aborted when the client goes away. */
  readonly closed: AbortSignal;
  /** Resolves when the client asks, on the same connection, to thaw (a freeze held while connected). */
  readonly thawAsked: Promise<void>;
  /** A freeze held while connected: sends the thaw's outcome and closes. */
  end(outcome: DaemonOutcome): void;
}

export interface ControlHandlers {
  status(): object;
  manual(request: ManualRequest, connection: ManualConnection): Promise<DaemonOutcome>;
}

function isRequest(value: unknown): value is DaemonRequest {
  const cmd = (value as { cmd?: unknown } | null)?.cmd;
  if (cmd === 'status') return true;
  if (cmd !== 'check' && cmd !== 'freeze' && cmd !== 'thaw') return false;
  const r = value as { hooksDir?: unknown; timeoutMs?: unknown; maxFrozenMs?: unknown };
  const finite = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n > 0;
  return typeof r.hooksDir === 'string' && finite(r.timeoutMs) && (cmd !== 'freeze' || finite(r.maxFrozenMs));
}

export class ControlServer {
  readonly path: string;
  readonly #server: Server;

  private constructor(path: string, server: Server) {
    this.path = path;
    this.#server = server;
  }

  static async listen(path: string, handlers: ControlHandlers): Promise<ControlServer> {
    // The socket is removed and recreated by path: only safe in a directory nobody else can
    // write (a world-writable run directory is refused, with the fix).
    prepareStateDir(dirname(path), undefined, { mode: 0o755, label: 'socket directory' });
    // The daemon holds the pidfile lock, so a socket file left here is a dead daemon's.
    rmSync(path, { force: true });
    const server = createServer({ allowHalfOpen: true }, (socket) => serve(socket, handlers));
    server.maxConnections = CONTROL_LIMITS.connections;
    await listenOwnerOnly(server, path);
    server.unref();
    return new ControlServer(path, server);
  }

  close(): void {
    this.#server.close();
    rmSync(this.path, { force: true });
  }
}

function send(socket: Socket, reply: DaemonReply): void {
  if (!socket.destroyed) socket.write(JSON.stringify(reply) + '\n');
}

function serve(socket: Socket, handlers: ControlHandlers): void {
  const closed = new AbortController();
  let askThaw!: () => void;
  const thawAsked = new Promise<void>((resolve) => (askThaw = resolve));
  let request: DaemonRequest | undefined;
  socket.on('error', () => socket.destroy());
  // allowHalfOpen: a client that ended its side still gets the outcome.
  // The client ending its side (Ctrl-C on hvvss check) counts as gone; it still reads the outcome.
  socket.on('end', () => closed.abort('the client went away'));
  socket.on('close', () => closed.abort('the client went away'));
  socket.setTimeout(CONTROL_LIMITS.timeoutMs, () => socket.destroy());
  socket.setEncoding('utf8');
  const lines = new LineSplitter((line) => {
    if (request) {
      // The only line a client may send later: thaw the freeze held while connected.
      if (request.cmd === 'freeze' && /"cmd"\s*:\s*"thaw"/.test(line)) askThaw();
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    if (!isRequest(parsed)) {
      socket.end(JSON.stringify({ error: 'not a request: send one JSON line such as {"cmd":"status"}' } satisfies DaemonReply) + '\n');
      return;
    }
    request = parsed;
    if (parsed.cmd === 'status') {
      socket.end(JSON.stringify(handlers.status(), null, 2) + '\n');
      return;
    }
    socket.setTimeout(0);
    const manual = parsed;
    handlers
      .manual(manual, {
        send: (event) => send(socket, { event }),
        closed: closed.signal,
        thawAsked,
        end: (done) => {
          send(socket, { done });
          socket.end();
        },
      })
      .then(
        (done) => {
          send(socket, { done });
          // A freeze held while connected stays open for the client's thaw (end() closes it then).
          if (!(manual.cmd === 'freeze' && manual.holdWhileConnected && done.frozen)) socket.end();
        },
        (err: unknown) => socket.end(JSON.stringify({ error: err instanceof Error ? err.message : String(err) } satisfies DaemonReply) + '\n'),
      );
  }, MAX_REQUEST_BYTES);
  socket.on('data', (chunk: string) => lines.push(chunk));
}
