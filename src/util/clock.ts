// Time behind a small interface, so state machines can be driven by a fake clock in unit tests.

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Monotonic milliseconds: for deadlines and durations, immune to wall-clock steps. */
  now(): number;
  /** Wall-clock time: for logs and status. */
  wallNow(): Date;
  /** Calls `fn` once after `ms`. The timer does not keep the process alive on its own if `unref`. */
  setTimer(ms: number, fn: () => void, options?: { unref?: boolean }): Timer;
}

export const systemClock: Clock = {
  // process.hrtime rather than performance.now(): the perf_hooks machinery behind the latter is
  // half a MiB of a resident daemon (docs/benchmarks.md, Footprint); both are CLOCK_MONOTONIC.
  now: () => Number(process.hrtime.bigint()) / 1e6,
  wallNow: () => new Date(),
  setTimer(ms, fn, options) {
    const handle = setTimeout(fn, Math.max(0, ms));
    if (options?.unref) handle.unref();
    return {
      cancel: () => {
        // Ref'd again first: Node keeps the (now empty) list of a cleared unref'd timer queued
        // until its time comes, and every later run of the timers (the idle collection's, say)
        // sets the next wake-up for it: the daemon's watchdog woke an idle daemon once after
        // every backup for nothing (docs/benchmarks.md, Footprint).
        handle.ref();
        clearTimeout(handle);
      },
    };
  },
};
