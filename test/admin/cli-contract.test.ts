// The command line keeps the word of README, man page and --help: bad usage exits 2 with our
// message alone, "hvvss help COMMAND" works, path flags are absolute once parsed, and a start-up
// error is printed once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flat, hvvssRun } from '../support/process.ts';

const USAGE: Array<[string[], RegExp]> = [
  [['daemon', '--timeout', 'abc'], /^Error: --timeout takes a number of seconds \(e\.g\. 2 or 0\.5\); got "abc" See more help with --help$/],
  [['simulate', '-f', '9'], /^Error: -f takes 0 \(success\), 1 \(timeout: answer after the kernel's limit\) or 2 \(failure\); got "9" See more help with --help$/],
  [['freeze', '--max-frozen', '-1'], /^Error: --max-frozen takes a number of seconds \(e\.g\. 2 or 0\.5\); got "-1" See more help with --help$/],
  [['check', '--hook-timeout', ''], /^Error: --hook-timeout takes a number of seconds/],
  [['status', '--bogus'], /^Error: Nonexistent flag: --bogus/],
  [['daemon', '--kill-grace', '5', '--timeout', '3'], /^Error: --kill-grace 5 must be shorter than --timeout 3/],
];

for (const [args, message] of USAGE) {
  test(`bad usage exits 2 with our message alone: hvvss ${args.join(' ')}`, async () => {
    const run = await hvvssRun(args);
    assert.equal(run.code, 2, run.output);
    assert.match(flat(run.stderr), message);
    assert.doesNotMatch(run.stderr, /Parsing --|\t/, 'no "Parsing --flag", no tab');
  });
}

test('-h still prints the usage and exits 0', async () => {
  const usage = await hvvssRun(['daemon', '-h']);
  assert.equal(usage.code, 0, usage.output);
  assert.equal(usage.stderr, '');
  assert.match(usage.stdout, /\$ hvvss daemon \[-n\]/);
});

test('hvvss help COMMAND shows that command\'s usage and exits 0', async () => {
  const help = await hvvssRun(['help', 'daemon']);
  assert.equal(help.code, 0, help.output);
  assert.match(help.stdout, /\$ hvvss daemon \[-n\]/);
  assert.match(help.stdout, /--syslog/);
  const unknown = await hvvssRun(['help', 'nosuch']);
  assert.equal(unknown.code, 2, unknown.output);
});

test('path flags and their variables are made absolute when parsed', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'hvvss-cli-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'my-hooks'));
  const fromFlag = await hvvssRun(['status', '--json', '--hooks-dir', 'my-hooks', '--state-dir', 'state', '--socket', 'none.sock', '--pidfile', 'none.pid'], { cwd: root });
  const report = JSON.parse(fromFlag.stdout) as { hooks: { dir: string }; daemon: { socket: string; pidfile: string } };
  assert.deepEqual([report.hooks.dir, report.daemon.socket, report.daemon.pidfile], [join(root, 'my-hooks'), join(root, 'none.sock'), join(root, 'none.pid')]);
  const fromEnv = await hvvssRun(['status', '--json', '--pidfile', 'none.pid'], {
    cwd: root,
    env: { ...process.env, HVVSS_HOOKS_DIR: 'my-hooks', HVVSS_STATE_DIR: 'state', HVVSS_SOCKET: 'none.sock' },
  });
  const envReport = JSON.parse(fromEnv.stdout) as typeof report;
  assert.deepEqual([envReport.hooks.dir, envReport.daemon.socket], [join(root, 'my-hooks'), join(root, 'none.sock')]);
});

test('a daemon that cannot start prints its error once and exits 1', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'hvvss-cli-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const device = join(root, 'no-device');
  const run = await hvvssRun(['daemon', '-n', '--device', device, '--pidfile', join(root, 'pid'), '--socket', join(root, 'sock'), '--state-dir', join(root, 'state')]);
  assert.equal(run.code, 1, run.output);
  const said = flat(run.output).split(`${device} does not exist`).length - 1;
  assert.equal(said, 1, `said once:\n${run.output}`);
});
