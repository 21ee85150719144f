// The emulator's /dev/ufssuspend with FreeBSD's rules (sys/ufs/ffs/ffs_suspend.c), driven by the
// FreeBSD code path of the suspension helper (built with -DHVVSS_EMULATED_UFSSUSPEND) and by a
// tiny C caller that does what other programs do (hv_vss_daemon's one descriptor for all mounts,
// a second thread, a file open for writing). Behind the device, a real FIFREEZE on loop mounts
// this file made and allow-listed (--ufs-allow): a writer blocks until the resume.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { startEmulator, type RunningEmulator } from '../../src/emulator/host-client.ts';
import { FreezeHelper } from '../../src/fs/freeze-helper.ts';
import { UFSSUSPEND } from '../../src/emulator/ufs-suspend.ts';
import * as libc from '../../src/native/libc.ts';
import { fsidOf } from '../../src/native/statfs.ts';
import { SyscallError } from '../../src/native/errors.ts';
import { assertFreezable, loopMount, thawLoop, type LoopMount } from '../support/loop-fs.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { within } from '../support/process.ts';
import { blocked, loopTools, writer } from '../fs/writer.ts';
import { buildC, buildHelper } from '../fs/helper-build.ts';

const E = constants.errno;
const CALLER_SOURCE = fileURLToPath(new URL('./ufs-caller.c', import.meta.url));
const defer = cleanupsPerTest();

/** Two allow-listed loop mounts, and one that is not, when this machine can make them. */
let a: LoopMount | undefined;
let b: LoopMount | undefined;
let other: LoopMount | undefined;
let emu: RunningEmulator | undefined;

function canLoop(): boolean {
  return process.getuid?.() === 0 && ['mkfs.ext4', 'losetup', 'fsfreeze'].every((tool) => !spawnSync(tool, ['--version'], { stdio: 'ignore' }).error);
}

before(async () => {
  if (!canLoop()) return;
  a = loopMount('ext4');
  b = loopMount('ext4');
  other = loopMount('ext4');
  emu = await startEmulator({ timeoutMs: 5_000, ufsAllow: [a.mountpoint, b.mountpoint] });
  process.env.HVVSS_UFSSUSPEND = emu.ufsSuspend;
});
after(async () => {
  await emu?.stop();
  for (const m of [a, b, other]) m?.cleanup();
});

interface Ready {
  readonly emu: RunningEmulator;
  /** The emulator's last event before this test: only later ones count. */
  readonly since: number;
  readonly a: string;
  readonly b: string;
  readonly other: string;
}

/** Skips (or fails in CI) without loop mounts; thaws everything after the test. */
async function ready(t: TestContext): Promise<Ready | undefined> {
  if (!loopTools(t)) return undefined;
  assert.ok(emu && a && b && other, 'the emulator and the loop mounts were set up');
  assertFreezable(a.mountpoint);
  assertFreezable(b.mountpoint);
  defer(() => {
    thawLoop(a!.mountpoint);
    thawLoop(b!.mountpoint);
  });
  const since = (await emu.host.events()).at(-1)?.seq ?? 0;
  return { emu, since, a: a.mountpoint, b: b.mountpoint, other: other.mountpoint };
}

/** A program (the C caller, the helper) running until its stdin ends; its lines as they come. */
class Caller {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  #wake = () => {};

  constructor(path: string, args: readonly string[], options: { readonly uid?: number } = {}) {
    this.child = spawn(path, [...args], { stdio: ['pipe', 'pipe', 'ignore'], ...options });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      this.#wake();
    });
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
    defer(() => this.child.kill('SIGKILL'));
  }

  /** Resolves once it has printed `line`, or has exited. */
  said(line: string): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#wake = () => (this.lines.includes(line) ? resolve() : undefined);
      this.#wake();
      void this.exited.then(() => resolve());
    });
  }

  /** Resolves once it says "held" (or exits): its lines up to then. */
  async held(): Promise<string[]> {
    await within(this.said('held'), 10_000, 'the caller to say "held"');
    return this.lines;
  }

  release(): Promise<number | null> {
    this.child.stdin!.end();
    return within(this.exited, 10_000, 'the caller to exit');
  }
}

function caller(t: TestContext, args: readonly string[], options: { readonly uid?: number } = {}): Caller | undefined {
  const path = buildC(t, CALLER_SOURCE, 'ufs-caller', ['-pthread']);
  return path ? new Caller(path, args, options) : undefined;
}

/** Waits for the emulator to say it resumed `mountpoint` for this reason, during this test. */
async function resumed(r: Ready, mountpoint: string, why: string): Promise<void> {
  await r.emu.host.waitForEvent((e) => e.seq > r.since && e.kind === 'ufs-resume' && e.mountpoint === mountpoint && e.why === why);
}

test('the helper suspends two mounts, one descriptor each; writers block until it resumes them (UFSRESUME)', async (t) => {
  const r = await ready(t);
  const helper = buildHelper(t, 'emulated-ufs');
  if (!r || !helper) return;
  const { helper: h, result } = await FreezeHelper.freeze(helper, [r.a, r.b]);
  defer(() => h.thaw());
  assert.deepEqual(result, { ok: true, held: [0, 1] });
  const wa = writer(r.a);
  const wb = writer(r.b);
  await blocked(wa);
  await blocked(wb);
  assert.deepEqual(await h.thaw(), { failed: [], exit: undefined });
  assert.equal((await within(wa.exited, 10_000, 'the writer on A')).code, 0);
  assert.equal((await within(wb.exited, 10_000, 'the writer on B')).code, 0);
  await resumed(r, r.a, 'UFSRESUME');
  await resumed(r, r.b, 'UFSRESUME');
});

for (const how of ['kill -9 of the helper', 'its stdin closed (hvvss gone)'] as const) {
  test(`${how}: both mounts resume`, async (t) => {
    const r = await ready(t);
    const helper = buildHelper(t, 'emulated-ufs');
    if (!r || !helper) return;
    const h = new Caller(helper, [r.a, r.b]);
    await within(h.said('ready'), 10_000, 'the helper to say "ready"');
    assert.deepEqual(h.lines, ['frozen 1', 'frozen 2', 'ready']);
    const wa = writer(r.a);
    const wb = writer(r.b);
    await blocked(wa);
    await blocked(wb);
    if (how === 'kill -9 of the helper') h.child.kill('SIGKILL');
    else h.child.stdin!.end();
    await within(h.exited, 10_000, 'the helper to exit');
    assert.equal((await within(wa.exited, 10_000, 'the writer on A')).code, 0);
    assert.equal((await within(wb.exited, 10_000, 'the writer on B')).code, 0);
    const why = how === 'kill -9 of the helper' ? 'close' : 'UFSRESUME';
    await resumed(r, r.a, why);
    await resumed(r, r.b, why);
  });
}

test('a multi-threaded caller gets EDEADLK: a C program with a second thread, and Node.js itself', async (t) => {
  const r = await ready(t);
  if (!r) return;
  const c = caller(t, ['-t', r.emu.ufsSuspend, r.a]);
  if (!c) return;
  assert.deepEqual(await c.held(), [`suspend 1 ${E.EDEADLK}`, 'held']);
  await c.release();
  // This test process (Node.js: always several threads) on the same device.
  const fd = libc.open(r.emu.ufsSuspend, 2);
  try {
    const [v0, v1] = fsidOf(r.a);
    const fsid = Buffer.alloc(8);
    fsid.writeInt32LE(v0, 0);
    fsid.writeInt32LE(v1, 4);
    assert.throws(() => libc.ioctl(fd, UFSSUSPEND, fsid), (err: unknown) => err instanceof SyscallError && err.code === 'EDEADLK');
  } finally {
    libc.close(fd);
  }
  assert.equal((await within(writer(r.a).exited, 10_000, 'a writer on A')).code, 0, 'nothing was suspended');
});

test('hv_vss_daemon\'s one descriptor for two UFS mounts: the second UFSSUSPEND gets EBUSY (and is resumed), the first stays suspended until the close', async (t) => {
  // This is why FreeBSD's hv_vss_daemon fails every FREEZE on a guest with two UFS file systems.
  const r = await ready(t);
  if (!r) return;
  const c = caller(t, [r.emu.ufsSuspend, r.a, r.b]);
  if (!c) return;
  assert.deepEqual(await c.held(), ['suspend 1 0', `suspend 2 ${E.EBUSY}`, 'held']);
  await resumed(r, r.b, 'second suspension on one descriptor');
  assert.equal((await within(writer(r.b).exited, 10_000, 'a writer on B')).code, 0, 'B was resumed');
  const wa = writer(r.a);
  await blocked(wa);
  assert.equal(await c.release(), 0);
  assert.equal((await within(wa.exited, 10_000, 'the writer on A after the close')).code, 0);
  await resumed(r, r.a, 'close');
});

test('a second suspension of a suspended mount, from another descriptor, is EBUSY', async (t) => {
  const r = await ready(t);
  if (!r) return;
  const first = caller(t, [r.emu.ufsSuspend, r.a]);
  if (!first) return;
  assert.deepEqual(await first.held(), ['suspend 1 0', 'held']);
  const second = caller(t, [r.emu.ufsSuspend, r.a]);
  assert.deepEqual(await second?.held(), [`suspend 1 ${E.EBUSY}`, 'held']);
  await second?.release();
  await first.release();
  await resumed(r, r.a, 'close');
});

test('an fsid the emulator does not allow is ENOENT (never frozen); UFSRESUME with nothing held is ENOENT', async (t) => {
  const r = await ready(t);
  if (!r) return;
  const c = caller(t, ['-r', r.emu.ufsSuspend, r.other]);
  if (!c) return;
  assert.deepEqual(await c.held(), [`resume ${E.ENOENT}`, `suspend 1 ${E.ENOENT}`, 'held']);
  assert.equal((await within(writer(r.other).exited, 10_000, 'a writer on the other mount')).code, 0);
  await c.release();
});

test('a caller holding a file open for writing on the mount gets EDEADLK', async (t) => {
  const r = await ready(t);
  if (!r) return;
  const c = caller(t, ['-w', `${r.a}/open-for-writing`, r.emu.ufsSuspend, r.a]);
  if (!c) return;
  assert.deepEqual(await c.held(), [`suspend 1 ${E.EDEADLK}`, 'held']);
  await c.release();
});

test('only root may open it (root:wheel 0600)', async (t) => {
  const r = await ready(t);
  if (!r) return;
  const c = caller(t, [r.emu.ufsSuspend, r.a], { uid: 65534 });
  if (!c) return;
  assert.deepEqual(await c.held(), [`open ${E.EACCES}`]);
});

test('the emulator refuses to allow anything but a loop mount: never this machine\'s own file systems', async () => {
  await assert.rejects(startEmulator({ ufsAllow: ['/'] }), /exited \(1\) before it was ready/);
});
