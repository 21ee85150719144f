// Per-test cleanup: `defer(fn)` inside a test; after each test the deferred functions run,
// last first, whether the test passed or not.
import { afterEach } from 'node:test';

export type Defer = (cleanup: () => unknown) => void;

export function cleanupsPerTest(): Defer {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return (cleanup) => void cleanups.push(cleanup);
}
