// The daemon's control socket against real clients: a status request gets the handler's document
// and the end of the connection; a line that is not a request gets the error and nothing runs; a
// client that sends nothing is dropped once its short while is up (CONTROL_LIMITS).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTROL_LIMITS, ControlServer, type ControlHandlers } from '../../src/daemon/control-server.ts';
import { within } from '../support/process.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';

const defer = cleanupsPerTest();

async function server(handlers: Partial<ControlHandlers> = {}): Promise<{ path: string; manualCalls: number[] }> {
  const root = mkdtempSync(join(tmpdir(), 'hvvss-control-'));
  defer(() => rmSync(root, { recursive: true, force: true }));
  const manualCalls: number[] = [];
  const control = await ControlServer.listen(join(root, 'run', 'hvvss.sock'), {
    status: () => ({ state: 'idle' }),
    manual: async () => {
      manualCalls.push(Date.now());
      throw new Error('not in this test');
    },
    ...handlers,
  });
  defer(() => control.close());
  return { path: control.path, manualCalls };
}

/** Sends LINE (if any) and collects what the daemon writes until it closes the connection. */
async function exchange(path: string, line?: string): Promise<string> {
  const client = createConnection(path);
  let text = '';
  client.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  if (line !== undefined) client.write(line);
  await within(once(client, 'close'), CONTROL_LIMITS.timeoutMs * 5, 'the daemon closing the connection');
  return text;
}

test('a status request is answered with the handler\'s document, then the connection ends', async () => {
  const { path } = await server();
  assert.deepEqual(JSON.parse(await exchange(path, '{"cmd":"status"}\n')), { state: 'idle' });
});

test('a line that is not a request gets the error, and no handler runs', async () => {
  const { path, manualCalls } = await server();
  const reply = JSON.parse(await exchange(path, '{"cmd":"rm -rf /"}\n')) as { error?: string };
  assert.match(reply.error ?? '', /not a request/);
  assert.deepEqual(manualCalls, []);
});

test('a client that sends nothing is dropped when its short while is up', async () => {
  const { path } = await server();
  // Resolves only if the daemon closes the silent connection (bounded by exchange's wait).
  assert.equal(await exchange(path), '');
});
