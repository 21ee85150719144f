// The real freeze engine and journal with the fs stage over fake mount operations and a fake
// mount table, and fake hooks (one, 10-db): for the tests of the order of hooks and file systems,
// the write-ahead intent, rollback and recovery. Every hook and mount operation is recorded in
// `calls`, in order.
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { FreezeEngine } from '../../src/engine/freeze-engine.ts';
import { FreezeJournal } from '../../src/state/freeze-journal.ts';
import { AgentLogger, type LogLevel } from '../../src/log/logger.ts';
import { FsStage, recoverMounts, type MountOps } from '../../src/fs/fs-stage.ts';
import { parseMountinfo, type MountEntry } from '../../src/fs/mount-table.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { scratch } from '../state/scratch.ts';
import { Hooks } from './recording-hooks.ts';

export interface FakeFsOptions {
  /** The mount table, as /proc/self/mountinfo. */
  readonly table: string;
  /** The fs policy's --fs-include. */
  readonly include: readonly string[];
  /** FIFREEZE of this mount fails (EBUSY). */
  readonly failFreeze?: string;
  /** FITHAW of this mount fails (EIO). */
  readonly failThaw?: string;
  /** Called before each FIFREEZE. */
  readonly beforeFreeze?: (mountpoint: string) => void;
  /** The fs stage on its own channel (hv_fsvss_dev): freezeFs and thawFs do the mounts. */
  readonly fsChannel?: boolean;
}

export function fakeFsEngine(t: TestContext, options: FakeFsOptions) {
  const dir = scratch(t);
  const calls: string[] = [];
  const frozen = new Set<string>();
  const ops: MountOps = {
    async fifreeze(mountpoint) {
      options.beforeFreeze?.(mountpoint);
      if (mountpoint === options.failFreeze) throw new Error(`FIFREEZE ${mountpoint}: EBUSY`);
      calls.push(`FIFREEZE ${mountpoint}`);
      frozen.add(mountpoint);
    },
    fithaw(mountpoint) {
      if (mountpoint === options.failThaw) throw new Error(`FITHAW ${mountpoint}: EIO`);
      calls.push(`FITHAW ${mountpoint}`);
      return frozen.delete(mountpoint);
    },
    async run(file, args) {
      calls.push(`${file} ${args.join(' ')}`);
    },
  };
  const clock = new FakeClock();
  const lines: Array<[LogLevel, string]> = [];
  const log = new AgentLogger({ write: (level, message) => lines.push([level, message]) }, { debug: true });
  const readTable = async (): Promise<MountEntry[]> => parseMountinfo(options.table);
  const fs = new FsStage({ policy: { include: [...options.include] }, log, clock, os: 'linux', ops, readTable });
  const journal = new FreezeJournal(join(dir, 'frozen.json'));
  const engine = new FreezeEngine({
    hooks: new Hooks(calls),
    journal,
    clock,
    log,
    holder: { kind: 'daemon', pid: process.pid },
    fs,
    ...(options.fsChannel ? { fsChannel: true } : {}),
    recoverMounts: (recorded) => recoverMounts(recorded, { log, clock, os: 'linux', ops, readTable }),
    stopLeftovers: async () => [],
  });
  return { calls, frozen, engine, journal, lines };
}
