// listenOwnerOnly against real sockets: what a client sees (connects, mode 0600, address()), what
// a failed listen says, and that it leaves no listener of its own on the server. That it keeps
// node:cluster out of the daemon is checked on the built daemon (test/e2e/daemon-modules.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listenOwnerOnly } from '../../src/util/unix-listen.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';

const defer = cleanupsPerTest();

/** The process's umask, read by setting it (process.umask() without an argument is deprecated). */
function umaskNow(): number {
  const mask = process.umask(0o022);
  process.umask(mask);
  return mask;
}

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hvvss-listen-'));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the socket accepts connections, is 0600, and address() names it', async () => {
  const path = join(scratch(), 'control.sock');
  const before = umaskNow();
  const greeted = new Promise<string>((resolve) => {
    const server = createServer((socket) => socket.end('hello\n'));
    defer(() => server.close());
    void listenOwnerOnly(server, path).then(() => {
      assert.equal(server.address(), path);
      assert.equal(server.listening, true);
      // The umask is the caller's again.
      assert.equal(umaskNow(), before);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.equal(server.listenerCount('error'), 0, 'no error listener left behind');
      assert.equal(server.listenerCount('listening'), 0, 'no listening listener left behind');
      const client = createConnection(path);
      let text = '';
      client.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve(text));
    });
  });
  assert.equal(await greeted, 'hello\n');
});

test('a path already taken rejects with the listen error, and the umask is restored', async () => {
  const path = join(scratch(), 'taken.sock');
  writeFileSync(path, 'not a socket');
  const before = umaskNow();
  const server = createServer();
  defer(() => server.close());
  await assert.rejects(listenOwnerOnly(server, path), (err: NodeJS.ErrnoException) => {
    assert.equal(err.code, 'EADDRINUSE');
    assert.equal(err.syscall, 'listen');
    assert.match(err.message, /taken\.sock/);
    return true;
  });
  assert.equal(umaskNow(), before);
  assert.equal(server.listening, false);
});
