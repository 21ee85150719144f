// A Clock whose time moves only when a test says so.
import type { Clock, Timer } from '../../src/util/clock.ts';

export class FakeClock implements Clock {
  #now = 1000;
  #wall = Date.UTC(2026, 10, 25, 12, 0, 0);
  #timers: Array<{ at: number; fn: () => void; live: boolean }> = [];

  now(): number {
    return this.#now;
  }

  wallNow(): Date {
    return new Date(this.#wall + this.#now);
  }

  setTimer(ms: number, fn: () => void): Timer {
    const timer = { at: this.#now + ms, fn, live: true };
    this.#timers.push(timer);
    return { cancel: () => void (timer.live = false) };
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.#now = due.at;
      due.live = false;
      due.fn();
    }
    this.#now = end;
    this.#timers = this.#timers.filter((t) => t.live);
  }
}
