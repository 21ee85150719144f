// Real file systems to freeze: loop-mounted images that the test creates. Freezing goes through
// an allow-list of the mounts made here, so a test can never freeze this machine's own file
// systems; teardown thaws first (a process blocked on a frozen file system cannot be killed),
// then unmounts and detaches.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Defer } from './cleanups.ts';
import { loopTools } from '../fs/writer.ts';

export interface LoopMount {
  readonly mountpoint: string;
  readonly device: string;
  /** Thaws (FITHAW through fsfreeze -u) if frozen, unmounts, detaches the loop device, removes the image. */
  cleanup(): void;
}

/** The mounts made by this process: the only ones a test may freeze. */
const allowed = new Set<string>();

export function assertFreezable(mountpoint: string): void {
  if (!allowed.has(mountpoint)) throw new Error(`refusing to freeze ${mountpoint}: not a loop mount this test created`);
}

/** `fsfreeze -u` on a mount of ours; no error when it is not frozen. */
export function thawLoop(mountpoint: string): void {
  assertFreezable(mountpoint);
  try {
    execFileSync('fsfreeze', ['-u', mountpoint], { stdio: 'ignore' });
  } catch {
    // EINVAL: not frozen.
  }
}

export type LoopFsType = 'ext4' | 'ext2' | 'xfs' | 'vfat';

export function loopMount(fsType: LoopFsType = 'ext4', sizeMiB = fsType === 'xfs' ? 300 : 16): LoopMount {
  const root = mkdtempSync(join(tmpdir(), `hvvss-loop-${fsType}-`));
  const image = join(root, 'image');
  const mountpoint = join(root, 'mnt');
  mkdirSync(mountpoint);
  execFileSync('truncate', ['-s', `${sizeMiB}M`, image]);
  const mkfs = fsType === 'vfat' ? ['mkfs.vfat', image] : fsType === 'xfs' ? ['mkfs.xfs', '-q', image] : [`mkfs.${fsType}`, '-q', '-F', image];
  execFileSync(mkfs[0] as string, mkfs.slice(1), { stdio: 'ignore' });
  const device = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim();
  try {
    execFileSync('mount', ['-t', fsType, device, mountpoint], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    // Not left attached: a kernel without this file system would otherwise leak a loop device per try.
    execFileSync('losetup', ['-d', device], { stdio: 'ignore' });
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  allowed.add(mountpoint);
  return {
    mountpoint,
    device,
    cleanup() {
      thawLoop(mountpoint);
      try {
        execFileSync('umount', [mountpoint], { stdio: 'ignore' });
      } catch {
        execFileSync('umount', ['-l', mountpoint], { stdio: 'ignore' });
      }
      execFileSync('losetup', ['-d', device], { stdio: 'ignore' });
      allowed.delete(mountpoint);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Loop mounts of these types for one test, cleaned up after it by `defer`; undefined (skipped, saying why) without root or the tools. */
export function loopMountsForTest(t: TestContext, defer: Defer, types: readonly LoopFsType[] = ['ext4', 'ext4']): LoopMount[] | undefined {
  if (!loopTools(t)) return undefined;
  return types.map((type) => {
    const mount = loopMount(type);
    defer(() => mount.cleanup());
    assertFreezable(mount.mountpoint);
    return mount;
  });
}
