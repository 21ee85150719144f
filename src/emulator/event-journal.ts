// The emulator's event journal: every kernel event, numbered and timed from the emulator's
// start, kept for the host's `events` command and passed on at once to subscribers (the
// control socket's `subscribe`), so tests wait on events instead of sleeping.
import type { Clock } from '../util/clock.ts';

export type Recorded<E> = E & { readonly seq: number; readonly at: number };

/** A long run would otherwise grow without bound: past the cap, the oldest thousand go. */
const KEEP_AT_MOST = 10_000;
const DROP_AT_ONCE = 1_000;

export class EventJournal<E extends object> {
  readonly #clock: Clock;
  readonly #startedAt: number;
  readonly #entries: Array<Recorded<E>> = [];
  readonly #listeners = new Set<(entry: Recorded<E>) => void>();
  /** Numbers keep growing when old events are dropped: tests compare them. */
  #seq = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
    this.#startedAt = clock.now();
  }

  record(event: E): Recorded<E> {
    const entry = { ...event, seq: ++this.#seq, at: Math.round(this.#clock.now() - this.#startedAt) };
    this.#entries.push(entry);
    if (this.#entries.length > KEEP_AT_MOST) this.#entries.splice(0, DROP_AT_ONCE);
    for (const listener of this.#listeners) listener(entry);
    return entry;
  }

  /** The events kept, oldest first. */
  get entries(): ReadonlyArray<Recorded<E>> {
    return this.#entries;
  }

  /** Calls `listener` with each event recorded from now on; the returned function stops that. */
  subscribe(listener: (entry: Recorded<E>) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
