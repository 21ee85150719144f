// The command of "hvvss freeze -- COMMAND", with real processes: its whole process group is
// stopped before the thaw (background children too), an interrupt reaches the group, and
// --max-frozen stops a command still running.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitForFile } from '../support/watch-file.ts';
import { runWhileFrozen, shellQuote } from '../../src/manual/run-command.ts';

/** Running, and not a zombie (an orphan's zombie stays until some init reaps it; in a container maybe none does). */
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

function options(overrides: Partial<Parameters<typeof runWhileFrozen>[1]> = {}) {
  const notes: string[] = [];
  return { notes, options: { stdout: 'inherit' as const, untilThawMs: 30_000, killGraceMs: 300, interrupt: new AbortController().signal, note: (t: string) => notes.push(t), ...overrides } };
}

test('a command that leaves a background child: the child is stopped before runWhileFrozen returns', async () => {
  const { notes, options: o } = options();
  // The child's pid goes to a file descriptor we read back: it must be gone afterwards.
  const run = await runWhileFrozen(['sh', '-c', 'sleep 30 & echo $! > /dev/shm/hvvss-bg-pid; exit 4'], o);
  assert.equal(run.exitCode, 4);
  const bg = Number(readFileSync('/dev/shm/hvvss-bg-pid', 'utf8'));
  rmSync('/dev/shm/hvvss-bg-pid');
  assert.equal(alive(bg), false, 'the background sleep outlived the command');
  assert.ok(notes.some((n) => /left in its process group .* (stopped \(SIGTERM\)|killed \(SIGKILL\)) before the thaw/.test(n)), notes.join('\n'));
});

test('an interrupt reaches the command\'s process group; --max-frozen stops a command still running', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hvvss-cmd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const started = join(dir, 'started');
  writeFileSync(started, '');
  const interrupt = new AbortController();
  const { options: o } = options({ interrupt: interrupt.signal });
  const running = runWhileFrozen(['sh', '-c', `echo started > ${started}; sleep 30; exit 0`], o);
  // Interrupted once it runs, as a person's Ctrl-C would be.
  await waitForFile(started, (lines) => lines.includes('started'));
  interrupt.abort('SIGINT');
  const run = await running;
  assert.equal(run.signal, 'SIGINT');
  assert.match(run.stopped ?? '', /SIGINT received/);

  const { options: late } = options({ untilThawMs: 0 });
  const overdue = await runWhileFrozen(['sleep', '30'], late);
  assert.equal(overdue.overdue, true);
  // SIGTERM, or SIGKILL after the grace if it came before sleep could take it: stopped either way.
  assert.ok(overdue.signal === 'SIGTERM' || overdue.signal === 'SIGKILL', String(overdue.signal));
});

test('a command that cannot be started gets the shell\'s statuses', async () => {
  const { options: o } = options();
  assert.equal((await runWhileFrozen(['/nonexistent/cmd'], o)).exitCode, 127);
});

test('shellQuote shows the command as one would type it', () => {
  assert.equal(shellQuote(['zfs', 'snapshot', '-r', 'tank@backup']), 'zfs snapshot -r tank@backup');
  assert.equal(shellQuote(['sh', '-c', "echo 'hi' there"]), `sh -c 'echo '\\''hi'\\'' there'`);
});
