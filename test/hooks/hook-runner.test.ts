import { test as nodeTest, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { LEFTOVER_NOTE, runHook } from '../../src/hooks/hook-runner.ts';
import { systemClock } from '../../src/util/clock.ts';
import { alive, collector, sandbox } from './fixtures.ts';
import type { HookSpawner } from '../../src/hooks/hook-spawn.ts';
import { nodeHookSpawner } from '../../src/hooks/hook-spawn-node.ts';
import { posixHookSpawner } from '../../src/hooks/hook-spawn-posix.ts';
import { execaHookSpawner } from '../../src/hooks/hook-spawn-execa.ts';

// Every guarantee holds whichever way the hooks start: posix_spawn (the daemon's),
// node:child_process (its fallback) and execa (the operator commands').
const SPAWNERS: Record<string, HookSpawner> = { posix_spawn: posixHookSpawner, 'node:child_process': nodeHookSpawner, execa: execaHookSpawner };
function test(name: string, fn: (t: TestContext, run: typeof runHook) => Promise<void>): void {
  for (const [library, spawner] of Object.entries(SPAWNERS)) {
    nodeTest(`${name} (${library})`, (t) => fn(t, (hook, options) => runHook(hook, { ...options, spawner })));
  }
}

test('argv, cwd and a minimal environment: nothing inherited', async (t, run) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  process.env.SECRET = '1';
  t.after(() => delete process.env.SECRET);
  const out = path.join(sb.base, 'seen');
  const p = await sb.hook('10-env', `{ echo "argc=$#"; echo "argv0=$0"; echo "argv1=$1"; echo "pwd=$(pwd)"; env | sort; } > '${out}'`);

  const { result } = await run({ name: '10-env', path: p }, { op: 'check', reason: 'host', msgid: '42', deadline: systemClock.now() + 20_000 });
  assert.equal(result.ok, true, JSON.stringify(result));
  const lines = (await readFile(out, 'utf8')).split('\n').filter((l) => l !== '');
  assert.deepEqual(lines.slice(0, 4), ['argc=1', `argv0=${p}`, 'argv1=check', 'pwd=/']);
  const env = new Map(lines.slice(4).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  env.delete('PWD'); // set by the shell itself
  const deadline = Number(env.get('HVVSS_DEADLINE'));
  assert.ok(deadline === 19 || deadline === 20, `HVVSS_DEADLINE=${env.get('HVVSS_DEADLINE')}`);
  env.delete('HVVSS_DEADLINE');
  assert.deepEqual(Object.fromEntries(env), {
    PATH: '/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin',
    HOME: '/',
    LANG: 'C',
    HVVSS_OP: 'check',
    HVVSS_REASON: 'host',
    HVVSS_MSGID: '42',
    HVVSS_HOOK: '10-env',
  });
  assert.equal(env.has('SECRET'), false);
});

test('freeze gets HVVSS_NOTIFY_FD=3 and a pipe as stdin; check and thaw get /dev/null', async (t, run) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const p = await sb.hook('10-fd', `echo "$1 stdin=$(readlink /proc/$$/fd/0) notify=\${HVVSS_NOTIFY_FD:-none} msgid=[$HVVSS_MSGID]" >> '${sb.log}'`);
  for (const op of ['check', 'freeze', 'thaw'] as const) {
    const { result } = await run({ name: '10-fd', path: p }, { op, reason: 'manual' });
    assert.equal(result.ok, true);
  }
  const log = await sb.readLog();
  assert.equal(log[0], 'check stdin=/dev/null notify=none msgid=[]');
  // libuv makes its "pipes" with socketpair(2) on Linux.
  assert.match(log[1] ?? '', /^freeze stdin=(pipe|socket):\[\d+\] notify=3 msgid=\[\]$/);
  assert.equal(log[2], 'thaw stdin=/dev/null notify=none msgid=[]');
});

/**
 * Descriptors above 3 that this process was started with and that are not close-on-exec: whoever
 * started the tests passes them on to every process (fork+exec and posix_spawn alike); everything
 * hvvss opens is close-on-exec. (O_CLOEXEC is 02000000 in fdinfo's octal flags.)
 */
const inherited = new Set(
  readdirSync('/proc/self/fd').map(Number).filter((fd) => {
    try {
      return fd > 3 && (Number.parseInt(/^flags:\s+(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1] ?? '0', 8) & 0o2000000) === 0;
    } catch {
      return false; // the directory's own descriptor, closed by now
    }
  }),
);

test('a hook gets only its own descriptors, no blocked or ignored signal, and a session of its own', async (t, run) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  // Each reads its own /proc entry after exec, so what it shows is the hook's process as started
  // (a shell reading its own status from a child would race with the shell's own signal blocking
  // around fork). /proc/PID/stat fields 5 and 6 are pgrp and session; ls sees the descriptors the
  // process had, plus the one it opens to read the directory (the shell's script descriptor is
  // close-on-exec).
  const signals = await sb.hook('10-signals', `exec grep -E '^(SigBlk|SigIgn):' /proc/self/status`);
  const group = await sb.hook('20-group', `cut -d' ' -f1,5,6 /proc/$$/stat; exec ls /proc/self/fd`);
  for (const op of ['check', 'freeze'] as const) {
    const output = async (name: string, path: string): Promise<string[]> => {
      const c = collector();
      const { result } = await run({ name, path }, { op, reason: 'manual', onLog: c.onLog });
      assert.equal(result.ok, true, JSON.stringify(result));
      return c.lines.filter((l) => l.stream === 'stdout').map((l) => l.line);
    };
    assert.deepEqual(await output('10-signals', signals), ['SigBlk:\t0000000000000000', 'SigIgn:\t0000000000000000'], 'Node ignores SIGPIPE; a hook must not');
    const lines = await output('20-group', group);
    const [pid, pgrp, session] = (lines[0] ?? '').split(' ');
    assert.equal(pgrp, pid, 'its own process group');
    assert.equal(session, pid, 'its own session');
    const fds = lines.slice(1).map(Number).filter((fd) => Number.isInteger(fd) && !inherited.has(fd));
    // 0-2 (and the notify pipe for freeze), and ls's own directory descriptor, the last one.
    assert.deepEqual(fds.slice(0, -1), op === 'freeze' ? [0, 1, 2, 3] : [0, 1, 2], `descriptors of ${op}: ${lines.slice(1).join(' ')}`);
  }
});

test('output lines reach the log callback with the hook name and stream', async (t, run) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const p = await sb.hook('10-talk', `echo hello; echo oops >&2; printf 'a\\r\\nb\\n'; printf 'no newline'; exit 3`);
  const c = collector();
  const { result } = await run({ name: '10-talk', path: p }, { op: 'check', reason: 'manual', onLog: c.onLog });
  assert.equal(result.ok, false);
  assert.equal(result.exitCode, 3);
  assert.equal(result.signal, null);
  assert.equal(result.timedOut, false);
  assert.equal(result.error, 'exited with code 3');
  assert.equal(result.hook, '10-talk');
  assert.equal(result.op, 'check');
  assert.ok(!Number.isNaN(Date.parse(result.startedAt)));
  assert.deepEqual(JSON.parse(JSON.stringify(result)), result, 'plain JSON-able data');
  const got = c.lines.filter((l) => l.stream !== 'runner');
  assert.deepEqual(
    got.filter((l) => l.stream === 'stdout').map((l) => l.line),
    ['hello', 'a', 'b', 'no newline'],
  );
  assert.deepEqual(got.filter((l) => l.stream === 'stderr'), [{ hook: '10-talk', op: 'check', stream: 'stderr', line: 'oops' }]);
  assert.ok(got.every((l) => l.hook === '10-talk' && l.op === 'check'));
});

test('a hook that cannot be executed is a failed result, not a throw', async (t, run) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const { result, started } = await run({ name: 'ghost', path: path.join(sb.hooks, 'ghost') }, { op: 'check', reason: 'manual' });
  assert.equal(started, true);
  assert.equal(result.ok, false);
  assert.match(result.error ?? '', /cannot run/);
});

test('a hanging hook is killed at its timeout, with its whole process group', async (t, run) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const pidFile = path.join(sb.base, 'pid');
  const p = await sb.hook('10-hang', `echo $$ > '${pidFile}'; sleep 30`);
  const c = collector();
  const { result } = await run({ name: '10-hang', path: p }, { op: 'freeze', reason: 'host', hookTimeoutMs: 300, killGraceMs: 200, onLog: c.onLog });
  const pid = Number(await readFile(pidFile, 'utf8'));
  sb.groups.push(pid);
  assert.equal(result.ok, false);
  assert.equal(result.timedOut, true);
  assert.equal(result.signal, 'SIGTERM');
  assert.equal(result.error, 'timed out after 300 ms');
  assert.equal(alive(pid), false);
  assert.ok(c.lines.some((l) => l.stream === 'runner' && /timed out/.test(l.line)));
});

test('the budget is cut by the request deadline minus the kill grace', async (t, run) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const p = await sb.hook('10-hang', 'exec sleep 30');
  const deadline = systemClock.now() + 1_300; // 1300 - 1000 grace = 300 ms for the hook
  const { result } = await run({ name: '10-hang', path: p }, { op: 'check', reason: 'host', deadline, hookTimeoutMs: 30_000, killGraceMs: 1_000 });
  assert.equal(result.timedOut, true);
  assert.equal(result.signal, 'SIGTERM');

  const late = await run({ name: '10-hang', path: p }, { op: 'freeze', reason: 'host', deadline: systemClock.now() + 500, killGraceMs: 1_000 });
  assert.equal(late.started, false, 'no time left: not started');
  assert.equal(late.result.ok, false);
});

test('a hook that ignores SIGTERM is SIGKILLed after the grace', async (t, run) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const pidFile = path.join(sb.base, 'pid');
  const p = await sb.hook('10-stubborn', `trap '' TERM; echo $$ > '${pidFile}'; while :; do sleep 1; done`);
  const c = collector();
  const { result } = await run({ name: '10-stubborn', path: p }, { op: 'check', reason: 'host', hookTimeoutMs: 300, killGraceMs: 200, onLog: c.onLog });
  sb.groups.push(Number(await readFile(pidFile, 'utf8')));
  assert.equal(result.timedOut, true);
  assert.equal(result.signal, 'SIGKILL');
  assert.equal(result.ok, false);
  assert.ok(c.lines.some((l) => l.stream === 'runner' && /SIGKILL/.test(l.line)));
});

test('a background child holding stdout does not stall the runner', async (t, run) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const pidFile = path.join(sb.base, 'pid');
  // The default hook timeout (30 s) is far away: completing at all proves the runner did not wait for `sleep`.
  const p = await sb.hook('10-bg', `echo $$ > '${pidFile}'; sleep 30 & echo started`);
  const c = collector();
  const { result } = await run({ name: '10-bg', path: p }, { op: 'thaw', reason: 'host', onLog: c.onLog });
  sb.groups.push(Number(await readFile(pidFile, 'utf8'))); // kill the leftover `sleep` at cleanup
  assert.equal(result.ok, true);
  assert.equal(result.exitCode, 0);
  assert.equal(result.timedOut, false);
  assert.equal(result.note, LEFTOVER_NOTE);
  assert.ok(c.lines.some((l) => l.stream === 'stdout' && l.line === 'started'));
  assert.ok(c.lines.some((l) => l.stream === 'runner' && l.line === LEFTOVER_NOTE && l.hook === '10-bg'));
});

test('abort signal terminates a running check', async (t, run) => {
  const sb = await sandbox();
  t.after(() => sb.cleanup());
  const p = await sb.hook('10-hang', `echo up; exec sleep 30`);
  const ac = new AbortController();
  const { result } = await run(
    { name: '10-hang', path: p },
    { op: 'check', reason: 'host', killGraceMs: 200, signal: ac.signal, onLog: (l) => l.line === 'up' && ac.abort() },
  );
  assert.equal(result.ok, false);
  assert.equal(result.error, 'aborted');
  assert.equal(result.signal, 'SIGTERM');
});
