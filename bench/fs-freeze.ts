// Benchmark 7, file-system freeze: four loop-mounted ext4 file systems frozen and thawed through
// hvvss daemon's fs role, against util-linux `fsfreeze -f` / `fsfreeze -u` on the same four.
//
// The path measured is the fs role as the host sees it: the daemon registered on the emulator's
// fs device (--fs-role --fs-device, in place of hv_vss_daemon), a full host FREEZE then THAW, and
// the figure is the fs stage of each (notify -> answer on hv_fsvss_dev, from the emulator's
// host result), added up. That is the part of a backup hv_vss_daemon does today and the fs role
// replaces: the device round trip, the engine, the fs stage and FIFREEZE/FITHAW, all of the
// product's own code on that path. The app stage of the same transactions (the hooks, here an
// empty directory, and the journal's write-ahead record) is reported beside it but not in the
// ratio: it is the application agent's work, measured by benchmarks 1 and 2, and hv_vss_daemon
// never did it.
//
// The reference is what an admin's script would run: `fsfreeze -f` on each mount, later
// `fsfreeze -u` on each, in the same order as the fs stage (last mount first; thawed in reverse),
// each timed from spawn to exit by the bench and added up. A third row freezes and thaws the
// same mounts from the bench's own process with FIFREEZE/FITHAW (koffi, as the daemon does): the
// kernel's own cost, the floor under both.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { scratch, type BenchContext } from './lib/context.ts';
import { hooksDir } from './lib/hooks.ts';
import { withFsRoleDaemon } from './lib/fs-role.ts';
import { timeOk } from './lib/spawn-timer.ts';
import { allFinite, median, ms, p99, ratio, signedMs } from './lib/stats.ts';
import type { BenchResult } from './lib/report.ts';
import type { HostResult, StageRecord } from '../src/emulator/vss-kernel.ts';

const MOUNTS = 4;
/** Issue 10's goal: the fs role against fsfreeze on the same mounts, median. */
const GOAL_RATIO = 1.5;
/** Pause before each measurement: the daemon finishes a THAW's journal clear after answering. */
const IDLE_GAP_MS = 25;

function stage(result: HostResult, side: StageRecord['side']): StageRecord & { readonly total: number } {
  const s = result.stages.find((x) => x.side === side);
  if (result.result !== 'success' || !s || s.answeredMs === undefined) {
    throw new Error(`expected a successful ${result.op} with an answered ${side} stage, got ${JSON.stringify(result)}`);
  }
  return { ...s, total: s.answeredMs - s.notifiedMs };
}

type Series = 'fs' | 'fsFreeze' | 'fsThaw' | 'app' | 'host' | 'fsfreeze' | 'fsfreezeF' | 'fsfreezeU' | 'ioctl';

export async function fsFreeze(ctx: BenchContext): Promise<BenchResult> {
  const reps = ctx.quick ? 10 : 60;
  const root = scratch(ctx, 'fs');
  const empty = hooksDir(join(root, 'hooks.d'));
  const t: Record<Series, number[]> = { fs: [], fsFreeze: [], fsThaw: [], app: [], host: [], fsfreeze: [], fsfreezeF: [], fsfreezeU: [], ioctl: [] };
  const native = await import('../src/native/fs-freeze.ts');
  await withFsRoleDaemon(ctx, MOUNTS, { hooksDir: empty, root: join(root, 'daemon') }, async (_daemon, loops) => {
    // The fs stage's order: the last mount first ("children before parents"), thawed in reverse.
    const order = loops.mounts.map((m) => m.mountpoint).reverse();
    const run: Record<'hvvss' | 'fsfreeze' | 'ioctl', () => Promise<void>> = {
      hvvss: async () => {
        await sleep(IDLE_GAP_MS);
        const freeze = await ctx.emu.host.request('freeze');
        await sleep(IDLE_GAP_MS);
        const thaw = await ctx.emu.host.request('thaw');
        const f = stage(freeze, 'fs').total;
        const u = stage(thaw, 'fs').total;
        t.fsFreeze.push(f);
        t.fsThaw.push(u);
        t.fs.push(f + u);
        t.app.push(stage(freeze, 'app').total + stage(thaw, 'app').total);
        t.host.push(freeze.totalMs + thaw.totalMs);
      },
      fsfreeze: async () => {
        await sleep(IDLE_GAP_MS);
        let f = 0;
        for (const m of order) f += await timeOk('fsfreeze', ['-f', m]);
        let u = 0;
        for (const m of [...order].reverse()) u += await timeOk('fsfreeze', ['-u', m]);
        t.fsfreezeF.push(f);
        t.fsfreezeU.push(u);
        t.fsfreeze.push(f + u);
      },
      ioctl: async () => {
        await sleep(IDLE_GAP_MS);
        const start = performance.now();
        for (const m of order) await native.fifreeze(m);
        for (const m of [...order].reverse()) native.fithaw(m);
        t.ioctl.push(performance.now() - start);
      },
    };
    const methods = ['hvvss', 'fsfreeze', 'ioctl'] as const;
    // Warm-up, then repetitions with the order rotating, so no method always follows another.
    for (const m of methods) await run[m]();
    for (const key of Object.keys(t)) t[key as Series].length = 0;
    for (let r = 0; r < reps; r++) {
      if (r % 10 === 0) ctx.progress(`fs freeze: repetition ${r + 1}/${reps}`);
      for (let i = 0; i < methods.length; i++) await run[methods[(r + i) % methods.length] as (typeof methods)[number]]();
    }
  });

  const med = (s: Series) => median(t[s]);
  const fsRatio = med('fs') / med('fsfreeze');
  const rows: Array<[string, Series, boolean]> = [
    [`fsfreeze -f × ${MOUNTS}, then fsfreeze -u × ${MOUNTS} (spawn to exit, added): reference`, 'fsfreeze', true],
    [`  fsfreeze -f × ${MOUNTS}`, 'fsfreezeF', false],
    [`  fsfreeze -u × ${MOUNTS}`, 'fsfreezeU', false],
    [`hvvss fs role: fs stage of FREEZE + fs stage of THAW (host-observed)`, 'fs', true],
    ['  fs stage of FREEZE', 'fsFreeze', false],
    ['  fs stage of THAW', 'fsThaw', false],
    [`in-process: FIFREEZE × ${MOUNTS}, then FITHAW × ${MOUNTS} (koffi, the bench's own process)`, 'ioctl', true],
    ['same transactions: app stage of FREEZE + THAW (empty hooks dir, journal), not in the ratio', 'app', false],
    ['same transactions: whole host FREEZE + THAW (both stages, kernel queues), not in the ratio', 'host', false],
  ];
  const failures = rows.filter(([, s]) => !allFinite(median(t[s]), p99(t[s]))).map(([, s]) => `${s}: no figures`);
  const perMount = (s: Series) => med(s) / (2 * MOUNTS);
  return {
    id: 'fs-freeze',
    title: '7. File-system freeze',
    method:
      `${MOUNTS} loop-mounted ext4 file systems of 16 MiB each, made through the tests' allow-list (test/support/loop-fs.ts) and thawed first in teardown. ` +
      `hvvss daemon --fs-role registered on the emulator's fs device (its hv_vss_daemon stand-in stopped for this benchmark), ` +
      `--fs-include naming the ${MOUNTS} mounts, an empty hooks directory. One repetition of the fs role is a host FREEZE then a THAW; ` +
      `its figure is the fs stage of each as the host sees it (notify → answer on hv_fsvss_dev), added: the work hv_vss_daemon does today. ` +
      `The reference runs \`fsfreeze -f\` on each mount, then \`fsfreeze -u\` on each, in the fs stage's order, each timed from spawn to exit ` +
      `by the bench (which charges it ${2 * MOUNTS} process starts: what a script driving fsfreeze pays). ${reps} repetitions after a warm-up, methods in rotating ` +
      `order, ${IDLE_GAP_MS} ms pause before each request or run.`,
    tables: [{
      caption: 'Milliseconds',
      columns: ['Method', 'n', 'median', 'p99', 'per mount and op (median)', 'ratio vs fsfreeze (median)'],
      rows: rows.map(([label, s, inRatio]) => [
        label, String(t[s].length), ms(median(t[s])), ms(p99(t[s])), inRatio ? ms(perMount(s)) : '',
        s === 'fsfreeze' ? '1.00x' : inRatio ? ratio(med(s), med('fsfreeze')) : '',
      ]),
    }],
    goals: [{
      what: `freeze + thaw of ${MOUNTS} ext4 mounts: fs role vs fsfreeze -f/-u, median`,
      target: `≤ ${GOAL_RATIO}x`,
      actual: `${fsRatio.toFixed(2)}x (${ms(med('fs'))} vs ${ms(med('fsfreeze'))} ms)`,
      met: fsRatio <= GOAL_RATIO,
      why:
        `The kernel's own FIFREEZE/FITHAW of the ${MOUNTS} mounts takes ${ms(med('ioctl'))} ms from one process; the fs role adds ` +
        `${signedMs(med('fs') - med('ioctl'))} ms over it (two device round trips, the engine), fsfreeze ${signedMs(med('fsfreeze') - med('ioctl'))} ms ` +
        `(${2 * MOUNTS} process starts).`,
    }],
    notes: [
      `Per mount and operation: fsfreeze ${ms(perMount('fsfreeze'))} ms, the fs role ${ms(perMount('fs'))} ms, FIFREEZE/FITHAW in-process ${ms(perMount('ioctl'))} ms.`,
    ],
    failures,
    data: Object.fromEntries(Object.entries(t).map(([k, v]) => [k, { median: median(v), p99: p99(v), n: v.length }])),
  };
}
