// The daemon's state for `hvvss status`, served on a root-only Unix socket: one JSON document
// per connection. Nothing touches the disk, so it works while file systems are frozen.
import { chmodSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { dirname } from 'node:path';
import { prepareStateDir } from '../state/index.ts';

/**
 * Clients that connect and never read must not grow the daemon: a few at a time, each given a
 * short while to take its document before it is dropped.
 */
export const STATUS_LIMITS = { connections: 16, timeoutMs: 2_000 } as const;

export class StatusServer {
  readonly path: string;
  readonly #server: Server;

  private constructor(path: string, server: Server) {
    this.path = path;
    this.#server = server;
  }

  static async listen(path: string, snapshot: () => object): Promise<StatusServer> {
    // The socket is removed and recreated by path: only safe in a directory nobody else can
    // write (a world-writable run directory is refused, with the fix).
    prepareStateDir(dirname(path), undefined, { mode: 0o755, label: 'socket directory' });
    // The daemon holds the pidfile lock, so a socket file left here is a dead daemon's.
    rmSync(path, { force: true });
    const server = createServer((socket) => {
      socket.on('error', () => socket.destroy());
      socket.setTimeout(STATUS_LIMITS.timeoutMs, () => socket.destroy());
      socket.end(JSON.stringify(snapshot(), null, 2) + '\n');
    });
    server.maxConnections = STATUS_LIMITS.connections;
    const oldMask = process.umask(0o177);
    try {
      server.listen(path);
      await once(server, 'listening');
    } finally {
      process.umask(oldMask);
    }
    chmodSync(path, 0o600);
    server.unref();
    return new StatusServer(path, server);
  }

  close(): void {
    this.#server.close();
    rmSync(this.path, { force: true });
  }
}
