// The emulator's control socket, the "host" side's way in (host-client.ts, host-cli.ts): one
// JSON object a line each way. A request carries an id and a cmd; its reply carries the same id
// and either the answer's fields or `error`; events a client subscribed to come as {event}.
// The FreeBSD and the Linux emulator speak it alike: this serves the commands every emulator
// has (events, subscribe, shutdown) and hands each other command to the emulator's `answer`.
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { EventJournal } from './event-journal.ts';

export interface ControlRequest {
  readonly id: number;
  readonly cmd: string;
}

export interface ControlSocketOptions<R extends ControlRequest, E extends object> {
  /** The socket's path (DIR/control.sock): whatever is there is replaced. */
  readonly path: string;
  readonly journal: EventJournal<E>;
  /** Answers a command of this emulator's own; the returned fields go back with the id, a throw as `error`. */
  readonly answer: (request: R) => Promise<object>;
  /** `shutdown`, called once its reply is written. */
  readonly shutdown: () => void;
}

export class ControlSocket<R extends ControlRequest, E extends object> {
  readonly #options: ControlSocketOptions<R, E>;
  readonly #subscribers = new Set<Socket>();
  #server: Server | undefined;

  constructor(options: ControlSocketOptions<R, E>) {
    this.#options = options;
    options.journal.subscribe((entry) => {
      const line = JSON.stringify({ event: entry }) + '\n';
      for (const socket of this.#subscribers) socket.write(line);
    });
  }

  async listen(): Promise<void> {
    rmSync(this.#options.path, { force: true });
    this.#server = createServer((socket) => this.#serve(socket));
    this.#server.listen(this.#options.path);
    await once(this.#server, 'listening');
  }

  /** Drops the clients that subscribed, stops listening and removes the socket file. */
  close(): void {
    for (const socket of this.#subscribers) socket.destroy();
    this.#server?.close();
    rmSync(this.#options.path, { force: true });
  }

  #serve(socket: Socket): void {
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('error', () => this.#subscribers.delete(socket));
    socket.on('close', () => this.#subscribers.delete(socket));
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.trim()) void this.#answer(socket, line);
      }
    });
  }

  async #answer(socket: Socket, line: string): Promise<void> {
    let id = 0;
    try {
      const request = JSON.parse(line) as ControlRequest;
      id = request.id;
      const reply = (body: object) => socket.write(JSON.stringify({ id, ...body }) + '\n');
      switch (request.cmd) {
        case 'events':
          return void reply({ events: this.#options.journal.entries });
        case 'subscribe':
          this.#subscribers.add(socket);
          return void reply({ ok: true });
        case 'shutdown':
          reply({ ok: true });
          return this.#options.shutdown();
        default:
          return void reply(await this.#options.answer(request as R));
      }
    } catch (err) {
      socket.write(JSON.stringify({ id, error: err instanceof Error ? err.message : String(err) }) + '\n');
    }
  }
}
