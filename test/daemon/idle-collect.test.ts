// The daemon's one collection after a burst (src/daemon/idle-collect.ts) runs a real full GC:
// an object nobody references any more is finalized once the collector fires, which a quiet
// process would otherwise leave for much later (nothing allocates here to trigger a GC).
import { test } from 'node:test';
import { idleCollector } from '../../src/daemon/idle-collect.ts';
import { within } from '../support/process.ts';

test('touch() collects once after the delay: unreachable objects are finalized', async () => {
  let finalized!: () => void;
  const done = new Promise<void>((resolve) => (finalized = resolve));
  const registry = new FinalizationRegistry<string>(() => finalized());
  (() => {
    registry.register({ payload: new Array(1000).fill('x') }, 'dropped');
  })();
  const collector = idleCollector(20);
  collector.touch();
  collector.touch();
  await within(done, 5_000, 'the dropped object to be finalized after the idle collection');
  collector.stop();
});

test('stop() cancels a pending collection and never keeps the process alive', () => {
  const collector = idleCollector(60_000);
  collector.touch();
  collector.stop();
  // The test process would stay up 60 s if the timer were left armed and referenced.
});

test('afterCollect runs after the collection: the daemon trims the C heap there (malloc_trim on glibc)', async () => {
  const { trimCHeap } = await import('../../src/native/libc.ts');
  let trimmed!: () => void;
  const done = new Promise<void>((resolve) => (trimmed = resolve));
  const collector = idleCollector(20, () => {
    trimCHeap(); // glibc's malloc_trim here, a no-op elsewhere: must not throw
    trimmed();
  });
  collector.touch();
  collector.touch();
  await within(done, 5_000, 'afterCollect after the idle collection');
  collector.stop();
});
