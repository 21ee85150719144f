// Benchmark 1, response floor: how long the host waits for the app stage of one CHECK, FREEZE
// and THAW (the stage's answeredMs - notifiedMs, on the emulator's clock) for (a) the C
// responder, the floor an agent can reach here, (b) hvvss simulate --wait 0 and (c) hvvss daemon
// with an empty hooks directory. Agents take turns in blocks (a b c, b c a, c a b) so that
// load from other users of the machine falls on all three alike.
//
// Two ways of sending: 'idle', with a pause after each answer so the agent is back in poll(2)
// when the next request comes (as from a real host, whose requests are seconds apart: this is
// the figure the goal is about), and 'back-to-back', the next request as soon as the previous
// one is answered, which also charges an agent for work it does after answering.
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FreezeJournal } from '../src/state/freeze-journal.ts';
import { prepareStateDir } from '../src/state/index.ts';
import { AGENT_LABEL, appStage, startDaemon, startResponder, startSimulate, type Agent, type AgentKind, type StageTimes } from './lib/agents.ts';
import { scratch, type BenchContext } from './lib/context.ts';
import { allFinite, median, ms, p99, ratio, signedMs, summarize } from './lib/stats.ts';
import type { BenchResult, Goal, Table } from './lib/report.ts';

const OPS = ['check', 'freeze', 'thaw'] as const;
type Op = (typeof OPS)[number];
const KINDS: readonly AgentKind[] = ['c', 'simulate', 'daemon'];

const MODES = ['idle', 'back-to-back'] as const;
type Mode = (typeof MODES)[number];
/** Long enough for the daemon's work after an answer (the THAW's journal clear: ~3 ms, p99 ~10 ms here). */
const IDLE_GAP_MS = 25;

type Samples = Record<AgentKind, Record<Mode, Record<Op, StageTimes[]>>>;

async function startAgent(ctx: BenchContext, kind: AgentKind): Promise<Agent> {
  if (kind === 'c') return startResponder(ctx);
  if (kind === 'simulate') return startSimulate(ctx);
  const root = scratch(ctx, 'floor-daemon');
  const hooksDir = join(root, 'hooks.d');
  mkdirSync(hooksDir);
  chmodSync(hooksDir, 0o755);
  return startDaemon(ctx, { hooksDir, root });
}

/** One CHECK, FREEZE, THAW cycle; a THAW always follows its FREEZE, as from a real host. */
async function cycle(ctx: BenchContext, mode: Mode): Promise<Record<Op, StageTimes>> {
  const out: Partial<Record<Op, StageTimes>> = {};
  for (const op of OPS) {
    if (mode === 'idle') await sleep(IDLE_GAP_MS);
    out[op] = appStage(await ctx.emu.host.request(op));
  }
  return out as Record<Op, StageTimes>;
}

/** What the daemon does before the first freeze hook of a FREEZE: a durable intent write, timed in-process. */
async function journalWrites(ctx: BenchContext, n: number): Promise<number[]> {
  // Prepared as the daemon prepares it (created root's alone) before its journal is written there.
  const stateDir = prepareStateDir(join(scratch(ctx, 'journal'), 'state'));
  const journal = new FreezeJournal(join(stateDir, 'frozen.json'));
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await journal.recordIntent({ since: new Date().toISOString(), reason: 'host', msgid: String(i), holder: { pid: process.pid, kind: 'daemon' }, hooksDir: '/x', hooks: [] });
    times.push(performance.now() - start);
  }
  return times;
}

export async function responseFloor(ctx: BenchContext): Promise<BenchResult> {
  const blocks = ctx.quick ? 1 : 3;
  // Cycles per agent and block, half of them in each mode.
  const perBlock = ctx.quick ? 40 : 200;
  const warmup = ctx.quick ? 5 : 15;
  const samples = Object.fromEntries(
    KINDS.map((k) => [k, Object.fromEntries(MODES.map((m) => [m, { check: [], freeze: [], thaw: [] }]))]),
  ) as unknown as Samples;
  for (let b = 0; b < blocks; b++) {
    for (let i = 0; i < KINDS.length; i++) {
      const kind = KINDS[(b + i) % KINDS.length] as AgentKind;
      ctx.progress(`response floor: block ${b + 1}/${blocks}, ${AGENT_LABEL[kind]}`);
      const agent = await startAgent(ctx, kind);
      try {
        // Warm-up: the first requests pay for JIT compilation and first-touch allocations.
        for (let w = 0; w < warmup; w++) await cycle(ctx, 'back-to-back');
        for (let r = 0; r < perBlock; r++) {
          // Modes alternate cycle by cycle, so both see the same moments of machine load.
          const mode = MODES[r % 2] as Mode;
          const c = await cycle(ctx, mode);
          for (const op of OPS) samples[kind][mode][op].push(c[op]);
        }
      } finally {
        await agent.stop();
      }
    }
  }
  const journal = await journalWrites(ctx, ctx.quick ? 30 : 200);

  const tables: Table[] = [];
  const goals: Goal[] = [];
  const failures: string[] = [];
  const data: Record<string, unknown> = { journalWriteMs: summarize(journal) };
  for (const op of OPS) {
    const rows: string[][] = [];
    for (const mode of MODES) {
      const floor = samples.c[mode][op].map((s) => s.total);
      for (const kind of KINDS) {
        const s = samples[kind][mode][op];
        const sum = summarize(s.map((x) => x.total));
        const wake = median(s.map((x) => x.wake));
        const handle = median(s.map((x) => x.handle));
        data[`${kind}.${mode}.${op}`] = { ...sum, wakeMedian: wake, handleMedian: handle };
        if (!allFinite(sum.median, sum.p99, wake, handle)) failures.push(`${kind} ${mode} ${op}: no figures`);
        const reference = kind === 'c';
        rows.push([
          `${AGENT_LABEL[kind]}, ${mode}`,
          String(sum.n),
          ms(sum.median),
          ms(sum.p99),
          ms(wake),
          ms(handle),
          reference ? 'reference' : signedMs(sum.median - median(floor)),
          reference ? 'reference' : signedMs(sum.p99 - p99(floor)),
          reference ? '1.00x' : ratio(sum.median, median(floor)),
        ]);
      }
    }
    tables.push({
      caption: `**${op.toUpperCase()}**, app stage (ms)`,
      columns: ['Agent, sending', 'n', 'median', 'p99', 'notify→read (median)', 'read→answer (median)', 'Δ median vs (a)', 'Δ p99 vs (a)', 'ratio (median)'],
      rows,
    });
    const c = samples.c.idle[op];
    const daemon = samples.daemon.idle[op];
    const diff = median(daemon.map((x) => x.total)) - median(c.map((x) => x.total));
    const handleDiff = median(daemon.map((x) => x.handle)) - median(c.map((x) => x.handle));
    const wakeDiff = median(daemon.map((x) => x.wake)) - median(c.map((x) => x.wake));
    goals.push({
      what: `${op.toUpperCase()}: daemon (c) vs C responder (a), median, idle`,
      target: '≤ +1 ms',
      actual: `${signedMs(diff)} ms`,
      met: diff <= 1,
      why:
        `Of the difference, ${signedMs(wakeDiff)} ms is waking up (poll(2) on libuv's thread pool, then the koffi callback back on the event loop) ` +
        `and ${signedMs(handleDiff)} ms is handling between the read and the answer` +
        (op === 'freeze'
          ? `; before answering a FREEZE the daemon writes its freeze journal durably (write, fsync, rename, fsync of the directory), ` +
            `which alone takes ${ms(median(journal))} ms median (p99 ${ms(p99(journal))}) on this file system, even when no hook was frozen. ` +
            `Skipping the journal when nothing was frozen would close the gap for an empty directory; with hooks it is the price of crash recovery ` +
            `(a cheaper form: one fdatasync of a preallocated file, no rename and no directory fsync).`
          : '.'),
    });
  }
  tables.push({
    caption: 'Reference for the FREEZE difference: the freeze journal written the daemon\'s way (FreezeJournal.recordFrozen, in-process, same file system) (ms)',
    columns: ['Operation', 'n', 'median', 'p99'],
    rows: [['write + fsync + rename + fsync(dir)', String(journal.length), ms(median(journal)), ms(p99(journal))]],
  });
  return {
    id: 'response-floor',
    title: '1. Response floor',
    method:
      `Host-observed app stage of CHECK, FREEZE and THAW (answeredMs − notifiedMs from the emulator's host result: from the moment the kernel ` +
      `queues the request for the app device to the moment the answer's ioctl reaches it). ${blocks} block(s) of ${perBlock} CHECK/FREEZE/THAW ` +
      `cycles per agent after ${warmup} warm-up cycles, agents rotating between blocks; cycles alternate between 'idle' (a ${IDLE_GAP_MS} ms pause ` +
      `before each request, so the agent waits in poll(2) as between a real host's requests: the goal's figure) and 'back-to-back' (the next ` +
      `request as soon as the previous one was answered, which also charges what an agent does after answering). notify→read is the agent waking from poll(2) and reading; ` +
      `read→answer is its own work. The emulator's FUSE round trips are in every row alike, so the differences are the agents' own.`,
    tables,
    goals,
    notes: [],
    failures,
    data,
  };
}
