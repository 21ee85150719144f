// What the file-system benchmarks share: loop-mounted ext4 file systems made through the tests'
// allow-list (test/support/loop-fs.ts: nothing but mounts made here can ever be frozen, and
// teardown thaws them first), and the emulator's fs device handed to hvvss daemon --fs-role for
// the length of a benchmark (its hv_vss_daemon stand-in is stopped, then restarted as it was).
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertFreezable, loopMount, type LoopMount } from '../../test/support/loop-fs.ts';
import type { BenchContext } from './context.ts';
import { startDaemon, type Agent, type DaemonOptions } from './agents.ts';

/** The tools the loop mounts and the reference need, with the Debian package that has them. */
const TOOLS: ReadonlyArray<readonly [string, string]> = [['mkfs.ext4', 'e2fsprogs'], ['losetup', 'mount'], ['fsfreeze', 'util-linux']];

export interface LoopMounts {
  readonly mounts: readonly LoopMount[];
  /** --fs-include for each, in mount order. */
  readonly includes: readonly string[];
  /** Thaws, unmounts and detaches every one (each even if another fails). */
  cleanup(): void;
}

/** `count` fresh ext4 loop mounts; throws naming the missing tool. */
export function loopMounts(count: number): LoopMounts {
  for (const [tool, pkg] of TOOLS) {
    if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).error) throw new Error(`${tool} is missing: apt-get install ${pkg}`);
  }
  const mounts: LoopMount[] = [];
  const cleanup = () => {
    const errors: string[] = [];
    for (const m of mounts.splice(0).reverse()) {
      try {
        m.cleanup();
      } catch (err) {
        errors.push(`${m.mountpoint}: ${(err as Error).message}`);
      }
    }
    if (errors.length) throw new Error(`cannot clean up the loop mounts: ${errors.join('; ')}`);
  };
  try {
    for (let i = 0; i < count; i++) {
      const m = loopMount('ext4');
      mounts.push(m);
      assertFreezable(m.mountpoint);
    }
  } catch (err) {
    cleanup();
    throw err;
  }
  return { mounts, includes: mounts.flatMap((m) => ['--fs-include', m.mountpoint]), cleanup };
}

async function waitForFs(ctx: BenchContext, registered: boolean): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if ((await ctx.emu.host.state()).fs === registered) return;
    await sleep(5);
  }
  throw new Error(`the emulated kernel still has the fs device ${registered ? 'unregistered' : 'registered'} after 2 s`);
}

/**
 * Frees the fs device (stops the hv_vss_daemon stand-in) and returns how to give it back: the
 * same stand-in, started again, so the benchmarks after this one find the kernel as they expect.
 */
export async function borrowFsDevice(ctx: BenchContext): Promise<() => Promise<void>> {
  const mode = (await ctx.emu.host.state()).fsDaemon?.mode;
  await ctx.emu.host.fsDaemon('stop');
  await waitForFs(ctx, false);
  return async () => {
    await waitForFs(ctx, false);
    if (mode) {
      await ctx.emu.host.fsDaemon(mode);
      await waitForFs(ctx, true);
    }
  };
}

/** The daemon's options for the fs role on the emulator's fs device, limited to `includes`. */
export function fsRoleArgs(ctx: BenchContext, includes: readonly string[]): string[] {
  return ['--fs-role', '--fs-device', ctx.emu.fsDevice, ...includes];
}

/** Once the daemon said it registered on the app device: waits for the fs device too. */
export function fsRegistered(ctx: BenchContext): Promise<void> {
  return waitForFs(ctx, true);
}

/**
 * Runs `body` with `hvvss daemon --fs-role` registered on the emulator's fs device (lent for the
 * length of the call) and on `count` fresh loop mounts. Afterwards, in this order and each even
 * if the one before failed: the daemon stops (SIGTERM: it thaws what it holds), the mounts are
 * thawed and removed, and the hv_vss_daemon stand-in gets its device back.
 */
export async function withFsRoleDaemon<T>(
  ctx: BenchContext,
  count: number,
  options: Omit<DaemonOptions, 'extra'>,
  body: (daemon: Agent, loops: LoopMounts) => Promise<T>,
): Promise<T> {
  const loops = loopMounts(count);
  let giveBack: (() => Promise<void>) | undefined;
  try {
    giveBack = await borrowFsDevice(ctx);
    const daemon = await startDaemon(ctx, { ...options, extra: fsRoleArgs(ctx, loops.includes) });
    try {
      await fsRegistered(ctx);
      return await body(daemon, loops);
    } finally {
      await daemon.stop();
    }
  } finally {
    try {
      loops.cleanup();
    } finally {
      await giveBack?.();
    }
  }
}
