// One full garbage collection when the daemon falls idle after answering the host, so that it
// idles at about the size it started with. V8 grows its heap during a burst of requests (each
// hook run allocates: processes, pipes, timers, promises) and keeps what it grew to until the
// next collection it needs; the memory reducer that would give it back when idle is off, because
// its timer wakes an idle daemon every few seconds (DAEMON_NODE_FLAGS). This is one timer per
// burst instead: it fires once, IDLE_MS after the last answer, and then nothing until the next
// request. Measured in docs/benchmarks.md (Footprint).

/** Long enough that a backup's CHECK, FREEZE and THAW (a few ms to seconds apart) are one burst. */
const IDLE_MS = 1000;

type CollectFn = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

export interface IdleCollector {
  /** An answer went out: collect once IDLE_MS after the last of them. */
  touch(): void;
  stop(): void;
}

/**
 * Node exposes gc() only with --expose-gc at start, which the shipped options have
 * (DAEMON_NODE_FLAGS). rc.d's hvvss_node_flags is the admin's to change, so without it the flag
 * is set here and a new context created after it gets gc() (the usual way to reach it from a
 * running process; node:v8 and node:vm are loaded only then). Without either (a Node that
 * refuses), the collector does nothing.
 */
function collectFunction(): CollectFn | undefined {
  const exposed: unknown = (globalThis as { gc?: unknown }).gc;
  if (typeof exposed === 'function') return exposed as CollectFn;
  try {
    process.getBuiltinModule('node:v8').setFlagsFromString('--expose-gc');
    const gc: unknown = process.getBuiltinModule('node:vm').runInNewContext('gc');
    return typeof gc === 'function' ? (gc as CollectFn) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `afterCollect` runs right after each collection: the daemon gives the C heap's free pages back
 * there (trimCHeap), which V8's collection alone does not.
 */
export function idleCollector(delayMs = IDLE_MS, afterCollect?: () => void): IdleCollector {
  const gc = collectFunction();
  let timer: NodeJS.Timeout | undefined;
  return {
    touch() {
      if (!gc) return;
      if (timer) timer.refresh();
      else {
        timer = setTimeout(() => {
          timer = undefined;
          // 'last-resort': the collection that also shrinks the heap's pages, as the memory reducer would.
          gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
          afterCollect?.();
        }, delayMs);
        // Never what keeps the process alive.
        timer.unref();
      }
    },
    stop() {
      clearTimeout(timer);
      timer = undefined;
    },
  };
}
