// A subscription to the emulator's kernel events on its own control connection, counting them
// by kind: the soak must see no stale write (an answer the kernel had given up on) and no
// protocol violation, over thousands of events (more than the emulator keeps in its log).
import { createConnection, type Socket } from 'node:net';
import { once } from 'node:events';
import type { RecordedEvent } from '../../src/emulator/host-client.ts';

export interface EventCounter {
  readonly counts: Map<string, number>;
  /** The first few events of the kinds asked for, for the report. */
  readonly samples: RecordedEvent[];
  close(): void;
}

export async function countEvents(control: string, keep: (event: RecordedEvent) => boolean): Promise<EventCounter> {
  const socket: Socket = createConnection(control);
  await once(socket, 'connect');
  const counts = new Map<string, number>();
  const samples: RecordedEvent[] = [];
  let buffered = '';
  let subscribed!: () => void;
  const ready = new Promise<void>((resolve) => (subscribed = resolve));
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const message = JSON.parse(buffered.slice(0, nl)) as { id?: number; event?: RecordedEvent };
      buffered = buffered.slice(nl + 1);
      if (message.id === 1) subscribed();
      const event = message.event;
      if (!event) continue;
      counts.set(event.kind, (counts.get(event.kind) ?? 0) + 1);
      if (keep(event) && samples.length < 5) samples.push(event);
    }
  });
  socket.write(JSON.stringify({ id: 1, cmd: 'subscribe' }) + '\n');
  // Counting starts once the emulator has us as a subscriber.
  await ready;
  return { counts, samples, close: () => socket.destroy() };
}
