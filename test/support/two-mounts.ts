// The setup of most fs-role tests: two ext4 loop mounts A and B made for one test (allow-listed,
// cleaned up after it) and a hooks fixture whose hooks may name A; the journal either on A,
// frozen with it (nothing may be written to it from the intent to the last thaw), or in the
// test's scratch directory.
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Defer } from './cleanups.ts';
import { hooksForTest, type HooksFixture } from './hooks-dir.ts';
import { loopMountsForTest, type LoopMount } from './loop-fs.ts';

export interface TwoMounts {
  readonly fx: HooksFixture;
  readonly a: LoopMount;
  readonly b: LoopMount;
  readonly stateDir: string;
}

export interface TwoMountsOptions {
  /** The hooks, given mount A. */
  readonly hooks: (a: LoopMount) => Record<string, string>;
  /** The journal on A (else ROOT/state). */
  readonly stateOnMount: boolean;
}

/** Undefined (skipped, saying why) without root or the tools for loop mounts. */
export function twoMounts(t: TestContext, defer: Defer, options: TwoMountsOptions): TwoMounts | undefined {
  const [a, b] = loopMountsForTest(t, defer) ?? [];
  if (!a || !b) return undefined;
  const fx = hooksForTest(defer, options.hooks(a));
  return { fx, a, b, stateDir: options.stateOnMount ? join(a.mountpoint, 'state') : join(fx.root, 'state') };
}

/** `--fs-include` for both mounts. */
export const includeBoth = (s: TwoMounts): string[] => ['--fs-include', s.a.mountpoint, '--fs-include', s.b.mountpoint];
