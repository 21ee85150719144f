// What a benchmark gets from the run: one emulator for all of them (every figure is compared
// with a reference measured on the same emulator in the same run), the hvvss build to start,
// and the compiled C responder.
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningEmulator } from '../../src/emulator/host-client.ts';

export interface BenchContext {
  readonly quick: boolean;
  readonly emu: RunningEmulator;
  /** The emulated kernel's limit; the daemon is told the same with --kernel-timeout. */
  readonly kernelTimeoutS: number;
  /** bin/run.cjs of the snapshot this run built. */
  readonly hvvssBin: string;
  /** The compiled bench/c/responder.c. */
  readonly responder: string;
  /** The run's temporary directory (removed at the end). */
  readonly tmp: string;
  /** Prints progress to stderr (the report goes elsewhere). */
  progress(line: string): void;
}

/** A fresh directory under the run's temporary directory. */
export function scratch(ctx: BenchContext, prefix: string): string {
  return mkdtempSync(join(ctx.tmp, `${prefix}-`));
}
