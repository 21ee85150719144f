// The suspension helper (its Linux side: FIFREEZE/FITHAW) on loop mounts this test created: it
// holds until told, until its stdin closes or until a signal, and a mount that cannot freeze
// thaws the ones before it. Its FreeBSD side (UFSSUSPEND, one descriptor per mount) cannot run
// here; the protocol and the driver are the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { FreezeHelper, HELPER_SOURCE, helperProblem, parseHelperLine } from '../../src/fs/freeze-helper.ts';
import { assertFreezable, loopMount, thawLoop } from '../support/loop-fs.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { within } from '../support/process.ts';
import { blocked, loopTools, writer } from './writer.ts';
import { buildHelper } from './helper-build.ts';

const defer = cleanupsPerTest();

function mounts(n: number): string[] {
  return Array.from({ length: n }, () => {
    const m = loopMount('ext4');
    defer(() => m.cleanup());
    assertFreezable(m.mountpoint);
    return m.mountpoint;
  });
}

test('the protocol lines parse; a missing helper says how to build it', () => {
  assert.deepEqual(parseHelperLine('frozen 2'), { kind: 'frozen', index: 1 });
  assert.deepEqual(parseHelperLine('failed 1 EBUSY Device or resource busy'), { kind: 'failed', index: 0, code: 'EBUSY', text: 'Device or resource busy' });
  assert.equal(parseHelperLine('ready'), 'ready');
  assert.equal(parseHelperLine('noise'), undefined);
  // The absolute path of this copy's source, which the package ships.
  assert.ok(helperProblem('/nonexistent/hvvss-fsfreeze')?.includes(`"cc -O2 -o /nonexistent/hvvss-fsfreeze ${HELPER_SOURCE}"`));
});

test('holds two mounts until told to thaw; writers block, then complete', async (t) => {
  const helper = buildHelper(t);
  if (!helper || !loopTools(t)) return;
  const [a, b] = mounts(2) as [string, string];
  const { helper: h, result } = await FreezeHelper.freeze(helper, [a, b]);
  assert.deepEqual(result, { ok: true, held: [0, 1] });
  const wa = writer(a);
  const wb = writer(b);
  await blocked(wa);
  await blocked(wb);
  assert.deepEqual(await h.thaw(), { failed: [], exit: undefined });
  assert.equal((await within(wa.exited, 10_000, 'writer on a')).code, 0);
  assert.equal((await within(wb.exited, 10_000, 'writer on b')).code, 0);
});

test('the second mount is already frozen: the helper thaws the first and reports EBUSY', async (t) => {
  const helper = buildHelper(t);
  if (!helper || !loopTools(t)) return;
  const [a, b] = mounts(2) as [string, string];
  execFileSync('fsfreeze', ['-f', b]);
  defer(() => thawLoop(b));
  const { result } = await FreezeHelper.freeze(helper, [a, b]);
  assert.equal(result.ok, false);
  assert.deepEqual(result.held, []);
  assert.equal(result.failed?.index, 1);
  assert.equal(result.failed?.code, 'EBUSY');
  assert.equal((await within(writer(a).exited, 10_000, 'writer on a')).code, 0);
});

for (const how of ['stdin closed (hvvss died)', 'SIGTERM'] as const) {
  test(`${how}: the helper thaws by itself`, async (t) => {
    const helper = buildHelper(t);
    if (!helper || !loopTools(t)) return;
    const [a] = mounts(1) as [string];
    const child = spawn(helper, [a], { stdio: ['pipe', 'pipe', 'ignore'] });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    defer(() => child.kill('SIGKILL'));
    let out = '';
    await within(new Promise<void>((resolve) => child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready\n')) resolve();
    })), 10_000, 'ready');
    const w = writer(a);
    await blocked(w);
    if (how === 'SIGTERM') child.kill('SIGTERM');
    else child.stdin.destroy();
    assert.equal(await within(exited, 10_000, 'the helper to exit'), 0);
    assert.match(out, /thawed 1\ndone\n$/);
    assert.equal((await within(w.exited, 10_000, 'writer after the helper thawed')).code, 0);
  });
}
