// FIFREEZE and FITHAW through koffi, on loop mounts this test created (never anything else).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fifreeze, fithaw } from '../../src/native/fs-freeze.ts';
import { SyscallError } from '../../src/native/errors.ts';
import { assertFreezable, loopMount } from '../support/loop-fs.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { within } from '../support/process.ts';
import { blocked, loopTools, writer } from './writer.ts';

const defer = cleanupsPerTest();

test('FIFREEZE blocks a writer until FITHAW; a second freeze is EBUSY; a thaw of a thawed mount says so', async (t) => {
  if (!loopTools(t)) return;
  const mnt = loopMount('ext4');
  defer(() => mnt.cleanup());
  assertFreezable(mnt.mountpoint);
  await fifreeze(mnt.mountpoint);
  const w = writer(mnt.mountpoint);
  await blocked(w);
  await assert.rejects(fifreeze(mnt.mountpoint), (err: unknown) => err instanceof SyscallError && err.code === 'EBUSY' && err.syscall === 'FIFREEZE' && err.path === mnt.mountpoint);
  assert.equal(fithaw(mnt.mountpoint), true);
  assert.equal((await within(w.exited, 10_000, 'the writer after FITHAW')).code, 0);
  assert.equal(fithaw(mnt.mountpoint), false);
});

test('a mount point that does not exist: open fails with the path', async () => {
  await assert.rejects(fifreeze('/nonexistent-hvvss-mount'), (err: unknown) => err instanceof SyscallError && err.code === 'ENOENT');
  assert.throws(() => fithaw('/nonexistent-hvvss-mount'), /ENOENT/);
});
