import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeWaitStatus, posixSpawnProblem, spawnProcess } from '../../src/native/spawn.ts';
import { SyscallError } from '../../src/native/errors.ts';

const ENV = { PATH: '/usr/bin:/bin' };

test('this C library has what posix_spawn needs (else hooks fall back to node:child_process)', () => {
  assert.equal(posixSpawnProblem(), undefined);
});

test('wait statuses: an exit code, or the signal by name', () => {
  assert.deepEqual(decodeWaitStatus(0), { exitCode: 0, signal: null });
  assert.deepEqual(decodeWaitStatus(7 << 8), { exitCode: 7, signal: null });
  assert.deepEqual(decodeWaitStatus(15), { exitCode: null, signal: 'SIGTERM' });
  assert.deepEqual(decodeWaitStatus(9 | 0x80), { exitCode: null, signal: 'SIGKILL' }, 'core dumped');
});

test('a started program is reaped with its exit code or its signal', async () => {
  const exit = spawnProcess({ path: '/bin/sh', args: ['-c', 'exit 7'], env: ENV, cwd: '/', fds: ['null', 'null', 'null'] });
  assert.ok(exit.pid > 0);
  assert.deepEqual(await exit.ended, { exitCode: 7, signal: null });
  const killed = spawnProcess({ path: '/bin/sh', args: ['-c', 'kill -TERM $$'], env: ENV, cwd: '/', fds: ['null', 'null', 'null'] });
  assert.deepEqual(await killed.ended, { exitCode: null, signal: 'SIGTERM' });
});

test('what cannot start throws a SyscallError naming posix_spawn, the path and errno', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hvvss-spawn-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const noShebang = join(dir, 'no-shebang');
  writeFileSync(noShebang, 'garbage\n');
  chmodSync(noShebang, 0o755);
  const notExecutable = join(dir, 'not-executable');
  writeFileSync(notExecutable, '#!/bin/sh\n');
  for (const [path, code] of [[join(dir, 'missing'), 'ENOENT'], [notExecutable, 'EACCES'], [noShebang, 'ENOEXEC']] as const) {
    assert.throws(
      () => spawnProcess({ path, args: [], env: ENV, cwd: '/', fds: ['null', 'null', 'null'] }),
      (err: unknown) => err instanceof SyscallError && err.syscall === 'posix_spawn' && err.code === code && err.path === path && err.message.startsWith(`posix_spawn ${path}: ${code}`),
    );
  }
});

test('a process still running keeps Node alive until it is reaped (SIGCHLD handlers do not)', () => {
  const module = fileURLToPath(new URL('../../src/native/spawn.ts', import.meta.url));
  const script = `import { spawnProcess } from ${JSON.stringify(module)};
    const p = spawnProcess({ path: '/bin/sh', args: ['-c', 'read x; exit 3'], env: {}, cwd: '/', fds: [{ from: 0 }, 'null', 'null'] });
    p.ended.then((end) => console.log(JSON.stringify(end)));`;
  // The child waits for a line on the stdin it shares with this node; the line comes after the
  // script has run to its end, with nothing but the child left to wait for.
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { input: 'go\n', encoding: 'utf8', timeout: 20_000 });
  assert.equal(out.trim(), '{"exitCode":3,"signal":null}');
});
