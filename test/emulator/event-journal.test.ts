import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventJournal } from '../../src/emulator/event-journal.ts';
import { FakeClock } from '../support/fake-clock.ts';

test('events are numbered from 1 and timed in ms from the journal start', () => {
  const clock = new FakeClock();
  const journal = new EventJournal<{ kind: string }>(clock);
  clock.advance(12.4);
  const first = journal.record({ kind: 'open' });
  clock.advance(3);
  journal.record({ kind: 'release' });
  assert.deepEqual(first, { kind: 'open', seq: 1, at: 12 });
  assert.deepEqual(journal.entries.map((e) => [e.kind, e.seq, e.at]), [['open', 1, 12], ['release', 2, 15]]);
});

test('past the cap the oldest thousand go, and numbers keep growing (tests compare them)', () => {
  const journal = new EventJournal<{ i: number }>(new FakeClock());
  for (let i = 1; i <= 10_001; i++) journal.record({ i });
  assert.equal(journal.entries.length, 9_001);
  assert.equal(journal.entries[0]!.seq, 1_001);
  assert.equal(journal.record({ i: 10_002 }).seq, 10_002);
});

test('a subscriber gets each event recorded after it subscribed, until it unsubscribes', () => {
  const journal = new EventJournal<{ kind: string }>(new FakeClock());
  journal.record({ kind: 'before' });
  const seen: string[] = [];
  const unsubscribe = journal.subscribe((e) => seen.push(`${e.seq}:${e.kind}`));
  journal.record({ kind: 'during' });
  unsubscribe();
  journal.record({ kind: 'after' });
  assert.deepEqual(seen, ['2:during']);
});
