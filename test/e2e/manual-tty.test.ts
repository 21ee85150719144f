// What a person sees when running hvvss check/freeze on a terminal: the command runs inside a
// tmux pane (a real terminal emulator), and the test reads the screen with capture-pane. The
// shell in the pane signals the end of the run on a tmux wait-for channel; a hook signals while
// it runs, so the screen can be read mid-run. Nothing waits on the clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HVVSS_BIN, within } from '../support/process.ts';
import { hooksFixture, RECORD, type HooksFixture } from '../support/hooks-dir.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';

const exec = promisify(execFile);
const LIMITS = ['--timeout', '2', '--hook-timeout', '1', '--kill-grace', '0.2'];
const defer = cleanupsPerTest();


const quote = (arg: string): string => `'${arg.replaceAll("'", `'\\''`)}'`;

interface Pane {
  readonly socket: string;
  tmux(...args: string[]): Promise<string>;
  /** The visible screen, trailing blank lines dropped. */
  screen(): Promise<string>;
  /** Resolves when the shell in the pane signals `channel`. */
  waitFor(channel: string, ms?: number): Promise<void>;
}

/** Runs `hvvss ARGS` in a fresh 100x30 tmux pane; the pane prints EXIT=<status> and signals "done". */
async function inTerminal(fx: HooksFixture, args: readonly string[], env: Record<string, string> = {}): Promise<Pane> {
  const socket = join(fx.root, 'tmux.sock');
  const tmux = async (...a: string[]) => (await exec('tmux', ['-S', socket, ...a])).stdout;
  const vars = Object.entries({ PATH: process.env.PATH ?? '', TERM: 'xterm-256color', ...env }).map(([k, v]) => `${k}=${quote(v)}`);
  const line = ['env', '-u', 'CI', ...vars, quote(process.execPath), quote(HVVSS_BIN), ...args.map(quote)].join(' ');
  const shell = `${line}; echo EXIT=$?; tmux -S ${quote(socket)} wait-for -S done; exec cat`;
  await tmux('-f', '/dev/null', 'new-session', '-d', '-x', '100', '-y', '30', '-s', 'hvvss', shell);
  defer(() => tmux('kill-server').then(() => undefined, () => undefined));
  return {
    socket,
    tmux,
    screen: async () => (await tmux('capture-pane', '-p', '-t', 'hvvss')).replace(/\s+$/, ''),
    waitFor: (channel, ms = 15_000) => within(tmux('wait-for', channel).then(() => undefined), ms, `tmux channel ${channel}`),
  };
}

function fixture(hooks: Record<string, string>): HooksFixture {
  const fx = hooksFixture(hooks);
  defer(() => fx.cleanup());
  return fx;
}

test('on a terminal, freeze -- COMMAND shows one task per hook with its state, the output under it, and the verdict', async () => {
  const fx = fixture({ '10-db': `${RECORD}\necho "tables flushed"`, '20-fs': RECORD });
  const pane = await inTerminal(fx, ['freeze', '--hooks-dir', fx.dir, '--state-dir', join(fx.root, 'state'), ...LIMITS, '--', 'sh', '-c', 'echo snapshot taken']);
  await pane.waitFor('done');
  const screen = await pane.screen();
  const lines = screen.split('\n');
  const at = (pattern: RegExp) => lines.findIndex((l) => pattern.test(l));
  // In order: the freeze list, the command's own output, the thaw list (reverse order), the verdict.
  const order = [
    /^freeze: 2 hooks, limit 2\.0 s$/,
    /^✔ 10-db +ok +\d+ ms$/,
    /^ +› tables flushed$/,
    /^✔ 20-fs +ok +\d+ ms$/,
    /^snapshot taken$/,
    /^thaw: 2 hooks, limit 2\.0 s$/,
    /^✔ 20-fs +ok +\d+ ms$/,
    /^✔ 10-db +ok +\d+ ms$/,
    /^✔ sh -c 'echo snapshot taken' exited with status 0; thawed 2 hooks$/,
    /^EXIT=0$/,
  ];
  let previous = -1;
  for (const pattern of order) {
    const index = lines.findIndex((l, i) => i > previous && pattern.test(l));
    assert.ok(index > previous, `expected ${pattern} after line ${previous + 1} on the screen:\n${screen}`);
    previous = index;
  }
  assert.equal(at(/◼|⠋|⠙|⠹/), -1, `no task left pending or spinning:\n${screen}`);
  assert.deepEqual(fx.log(), ['10-db freeze manual', '20-fs freeze manual', '20-fs thaw manual', '10-db thaw manual']);
});

test('on a terminal, a running hook shows its elapsed time and the time left; a failure shows why, skipped hooks say so', async () => {
  const fx = fixture({ '10-ok': RECORD, '30-fails': `${RECORD}\n[ "$1" = freeze ] && { echo "cannot lock" >&2; exit 3; }\nexit 0`, '40-never': RECORD });
  const socket = join(fx.root, 'tmux.sock');
  fx.add('20-slow', `${RECORD}\n[ "$1" = freeze ] && { tmux -S '${socket}' wait-for -S running; tmux -S '${socket}' wait-for go; }\nexit 0`);
  const pane = await inTerminal(fx, ['freeze', '--hooks-dir', fx.dir, '--state-dir', join(fx.root, 'state'), ...LIMITS]);
  await pane.waitFor('running');
  // The hook is running now; the screen shows it at its next refresh.
  let screen = '';
  await within(
    (async () => {
      while (!/^⠋?.*20-slow +[\d.]+ m?s +[\d.]+ m?s left$/m.test(screen)) screen = await pane.screen();
    })(),
    5_000,
    `the running hook on screen; last screen:\n${screen}`,
  );
  await pane.tmux('wait-for', '-S', 'go');
  await pane.waitFor('done');
  screen = await pane.screen();
  assert.match(screen, /^✖ 30-fails +FAILED: exited with code 3 +\d+ ms$/m);
  assert.match(screen, /^ +› cannot lock$/m);
  assert.match(screen, /^↓ 40-never +not run \(an earlier freeze failed\)/m);
  assert.match(screen, /^thaw \(rollback\): 3 hooks$/m);
  assert.match(screen, /^✖ freeze failed: 30-fails exited with code 3; rolled back 3 hooks$/m);
  assert.match(screen, /^EXIT=1$/m);
});

test('with CI set, even on a terminal, the output is plain lines', async () => {
  const fx = fixture({ '10-db': RECORD });
  const pane = await inTerminal(fx, ['check', '--hooks-dir', fx.dir, '--state-dir', join(fx.root, 'state'), ...LIMITS], { CI: 'true' });
  await pane.waitFor('done');
  const screen = await pane.screen();
  assert.match(screen, /^check: 1 hook, limit 2\.0 s \(10-db\)\ncheck 10-db: ok \(\d+ ms\)\nOK: check: 1 hook ok\nEXIT=0$/m);
});
