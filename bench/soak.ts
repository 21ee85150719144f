// Benchmark 6, soak: many host transactions against hvvss daemon with hooks that randomly fail,
// run slow, hang (killed at --hook-timeout), ignore SIGTERM (killed after --kill-grace), leave
// a background process holding their output, or stay resident through a freeze. Host requests
// follow backup-like scenarios, including FREEZE with no THAW and stray THAWs. Everything comes
// from a seeded generator: the same seed replays the same run.
//
// Pass/fail (the run exits non-zero on any): no host result timed out in the kernel, no stale
// write or protocol violation seen by the emulator, every hook's last freeze followed by a thaw
// (hooks log), the freeze journal saying frozen: false at the end, and no hung hook process
// left alive.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDaemon } from './lib/agents.ts';
import { scratch, type BenchContext } from './lib/context.ts';
import { countEvents } from './lib/events.ts';
import { hooksDir, shellHook } from './lib/hooks.ts';
import { pidsMatching, rssKiB } from './lib/proc.ts';
import { seeded, type Rng } from './lib/rng.ts';
import { allFinite, median, ms, p99 } from './lib/stats.ts';
import type { BenchResult } from './lib/report.ts';
import type { HostResult } from '../src/emulator/vss-kernel.ts';

export const SOAK_SEED = 0x5eed06;
const HOOKS = ['10-db', '20-app', '30-cache', '40-web'] as const;
const TIMEOUT_S = 2;
const HOOK_TIMEOUT_S = 0.3;
const KILL_GRACE_S = 0.2;

type Op = 'check' | 'freeze' | 'thaw';
type Behaviour = 'ok' | 'fail' | 'slow' | 'hang' | 'stubborn' | 'background' | 'resident';

/** Per hook and operation. Hangs are rare: each costs the hook timeout (and the grace) of the request. */
const BEHAVIOURS: Record<Behaviour, number> = { ok: 86.5, fail: 3, slow: 5, hang: 1, stubborn: 0.5, background: 1, resident: 3 };
/** Host scenarios: a backup, a backup the host gives up on after FREEZE, a stray THAW, a lone CHECK. */
const SCENARIOS = { backup: 80, 'freeze-no-thaw': 8, 'stray-thaw': 6, 'check-only': 6 } as const;
const SCENARIO_OPS: Record<keyof typeof SCENARIOS, Op[]> = {
  backup: ['check', 'freeze', 'thaw'],
  'freeze-no-thaw': ['check', 'freeze'],
  'stray-thaw': ['thaw'],
  'check-only': ['check'],
};

/**
 * The hook: logs the call, then does what the plan file says for it and this operation. The
 * plan changes before every host request; a rollback thaw that runs after its FREEZE was
 * answered may read the next plan, which is fine: it is random either way.
 */
function hookBody(log: string, plan: string, hang: string, stubborn: string): string {
  return `op=$1
echo "$HVVSS_HOOK $op $HVVSS_REASON" >> "${log}"
what=ok; arg=
while read -r name o w a; do
  if [ "$name" = "$HVVSS_HOOK" ] && [ "$o" = "$op" ]; then what=$w; arg=$a; fi
done < "${plan}"
case $what in
  fail) exit 1 ;;
  slow) sleep "$arg" ;;
  hang) exec sleep ${hang} ;;
  stubborn) trap '' TERM; exec sleep ${stubborn} ;;
  background) sleep 1 & ;;
  resident) [ "$op" = freeze ] && { echo READY >&"$HVVSS_NOTIFY_FD"; cat >/dev/null; } ;;
esac
exit 0`;
}

function planFor(rng: Rng): string {
  const lines: string[] = [];
  for (const hook of HOOKS) {
    for (const op of ['check', 'freeze', 'thaw'] as const) {
      let b = rng.weighted(BEHAVIOURS);
      if (b === 'resident' && op !== 'freeze') b = 'ok';
      if (b === 'ok') continue;
      lines.push(`${hook} ${op} ${b}${b === 'slow' ? ` ${rng.between(0.02, 0.2).toFixed(3)}` : ''}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** Every hook that logged a freeze has a thaw after its last one. */
function leftFrozen(logLines: readonly string[]): string[] {
  const last = new Map<string, string>();
  for (const line of logLines) {
    const [hook, op] = line.split(' ');
    if (hook && (op === 'freeze' || op === 'thaw')) last.set(hook, op);
  }
  return [...last].filter(([, op]) => op === 'freeze').map(([hook]) => hook);
}

export async function soak(ctx: BenchContext): Promise<BenchResult> {
  const transactions = ctx.quick ? 50 : 1000;
  const rng = seeded(SOAK_SEED);
  const root = scratch(ctx, 'soak');
  const dir = hooksDir(join(root, 'hooks.d'));
  const log = join(root, 'hooks.log');
  const plan = join(root, 'plan');
  writeFileSync(log, '');
  writeFileSync(plan, '');
  // Unique sleep lengths mark this run's hung hooks, to find any left alive at the end.
  const hang = `3601.${process.pid}`;
  const stubborn = `3602.${process.pid}`;
  for (const hook of HOOKS) shellHook(dir, hook, hookBody(log, plan, hang, stubborn));

  const ops: Op[] = [];
  const scenarioCounts: Record<string, number> = {};
  while (ops.length < transactions - 1) {
    const s = rng.weighted(SCENARIOS);
    scenarioCounts[s] = (scenarioCounts[s] ?? 0) + 1;
    ops.push(...SCENARIO_OPS[s]);
  }
  ops.length = transactions - 1;
  ops.push('thaw'); // the host's last word, so that nothing may stay frozen

  const events = await countEvents(ctx.emu.control, (e) => e.kind === 'stale-write' || e.kind === 'violation');
  const daemon = await startDaemon(ctx, {
    hooksDir: dir,
    root: join(root, 'daemon'),
    timeoutS: TIMEOUT_S,
    hookTimeoutS: HOOK_TIMEOUT_S,
    killGraceS: KILL_GRACE_S,
  });
  const rssStart = rssKiB(daemon.pid);
  const results: HostResult[] = [];
  const appTotals: number[] = [];
  const behaviourCounts: Record<string, number> = {};
  const started = performance.now();
  let rssEnd = Number.NaN;
  const failures: string[] = [];
  try {
    for (const [i, op] of ops.entries()) {
      if (i % 100 === 0) ctx.progress(`soak: transaction ${i + 1}/${transactions}`);
      const text = planFor(rng);
      for (const line of text.trim().split('\n').filter(Boolean)) {
        // Counted when the request runs that operation (a thaw line may also act in a rollback).
        const [, lineOp, b] = line.split(' ');
        if (lineOp === op && b) behaviourCounts[b] = (behaviourCounts[b] ?? 0) + 1;
      }
      writeFileSync(`${plan}.new`, text);
      renameSync(`${plan}.new`, plan);
      await sleep(rng.between(0, 20));
      const result = await ctx.emu.host.request(op);
      results.push(result);
      const app = result.stages.find((s) => s.side === 'app');
      if (app?.answeredMs !== undefined) appTotals.push(app.answeredMs - app.notifiedMs);
    }
    // The last THAW is answered before the journal is cleared: give the daemon a moment.
    const journalPath = join(root, 'daemon', 'state', 'frozen.json');
    const journal = () => (existsSync(journalPath) ? (JSON.parse(readFileSync(journalPath, 'utf8')) as { frozen: boolean }) : { frozen: false });
    for (let i = 0; i < 100 && journal().frozen; i++) await sleep(50);
    if (journal().frozen) failures.push(`${journalPath} still says frozen: true after the last THAW`);
    const frozenHooks = leftFrozen(readFileSync(log, 'utf8').split('\n').filter(Boolean));
    if (frozenHooks.length) failures.push(`left frozen (last freeze not followed by a thaw): ${frozenHooks.join(', ')}`);
    let leftovers: number[] = [];
    for (let i = 0; i < 40; i++) {
      leftovers = [...pidsMatching(`sleep ${hang}`), ...pidsMatching(`sleep ${stubborn}`)];
      if (!leftovers.length) break;
      await sleep(50);
    }
    if (leftovers.length) failures.push(`hung hook processes left alive: pids ${leftovers.join(', ')}`);
    if (!(await ctx.emu.host.state()).app) failures.push('the daemon is no longer registered');
    rssEnd = rssKiB(daemon.pid);
  } finally {
    events.close();
    await daemon.stop();
  }
  const seconds = (performance.now() - started) / 1000;

  const byReason = new Map<string, number>();
  for (const r of results) byReason.set(`${r.op} ${r.result} (${r.reason})`, (byReason.get(`${r.op} ${r.result} (${r.reason})`) ?? 0) + 1);
  const timeouts = results.filter((r) => r.reason === 'timeout');
  const stale = events.counts.get('stale-write') ?? 0;
  const violations = events.counts.get('violation') ?? 0;
  if (results.length !== transactions) failures.push(`${results.length} of ${transactions} transactions ran`);
  if (timeouts.length) failures.push(`${timeouts.length} transaction(s) timed out in the kernel, e.g. ${JSON.stringify(timeouts[0])}`);
  if (stale) failures.push(`${stale} stale write(s): answers the kernel had already given up on, e.g. ${JSON.stringify(events.samples[0])}`);
  if (violations) failures.push(`${violations} protocol violation(s): ${JSON.stringify(events.samples.find((e) => e.kind === 'violation'))}`);
  const maxTotal = Math.max(...results.map((r) => r.totalMs));
  const limitMs = ctx.kernelTimeoutS * 1000;
  if (!allFinite(median(appTotals), p99(appTotals), maxTotal)) failures.push('no figures');
  const daemonLines = daemon.proc.lines;
  const count = (re: RegExp) => daemonLines.filter((l) => re.test(l)).length;

  return {
    id: 'soak',
    title: '6. Soak',
    method:
      `${transactions} host transactions (seed 0x${SOAK_SEED.toString(16)}) against hvvss daemon with four \`#!/bin/sh\` hooks driven by ` +
      `a plan file rewritten before each request: per hook and operation ${Object.entries(BEHAVIOURS).map(([b, w]) => `${b} ${w} %`).join(', ')} ` +
      `(slow: sleep 20-200 ms; hang: exec sleep, killed at the hook timeout; stubborn: ignores SIGTERM, killed after the grace; ` +
      `background: leaves a child holding its output; resident: READY on fd 3, held until thaw). Host scenarios: ` +
      `${Object.entries(SCENARIOS).map(([s, w]) => `${s} ${w} %`).join(', ')}, 0-20 ms apart, ending with a THAW. ` +
      `Kernel limit ${ctx.kernelTimeoutS} s, daemon --timeout ${TIMEOUT_S} --hook-timeout ${HOOK_TIMEOUT_S} --kill-grace ${KILL_GRACE_S}.`,
    tables: [
      {
        caption: 'Invariants',
        columns: ['Check', 'Found'],
        rows: [
          ['host results with reason timeout (kernel limit reached)', String(timeouts.length)],
          ['stale writes (answers after the kernel gave up)', String(stale)],
          ['protocol violations', String(violations)],
          ['hooks left frozen (hooks log)', String(leftFrozen(readFileSync(log, 'utf8').split('\n').filter(Boolean)).length)],
          ['freeze journal at the end', failures.some((f) => f.includes('frozen: true')) ? 'frozen: true' : 'frozen: false'],
          ['hung hook processes left alive', failures.some((f) => f.startsWith('hung hook')) ? 'yes' : '0'],
        ],
      },
      {
        caption: 'Host results',
        columns: ['Operation, result (reason)', 'count'],
        rows: [...byReason].sort().map(([k, n]) => [k, String(n)]),
      },
      {
        caption: `Timing against the kernel limit (${limitMs} ms)`,
        columns: ['Figure', 'ms', 'share of the limit'],
        rows: [
          ['app stage, median', ms(median(appTotals)), `${((median(appTotals) / limitMs) * 100).toFixed(1)} %`],
          ['app stage, p99', ms(p99(appTotals)), `${((p99(appTotals) / limitMs) * 100).toFixed(1)} %`],
          ['slowest transaction (whole, host-observed)', ms(maxTotal), `${((maxTotal / limitMs) * 100).toFixed(1)} %`],
        ],
      },
      {
        caption: 'What was injected, and what the daemon logged',
        columns: ['Item', 'count'],
        rows: [
          ...Object.entries(behaviourCounts).sort().map(([b, n]) => [`hook behaviour planned for the operation requested: ${b}`, String(n)]),
          ...Object.entries(scenarioCounts).sort().map(([s, n]) => [`host scenario: ${s}`, String(n)]),
          ['daemon log: hook timed out', String(count(/timed out after/))],
          ['daemon log: SIGKILL after the grace', String(count(/sending SIGKILL/))],
          ['daemon log: rollback thaws', String(count(/thaw \(rollback, msgid/))],
          ['daemon log: resident hooks', String(count(/READY: resident/))],
          ['daemon log: LATE answers', String(count(/LATE/))],
        ],
      },
    ],
    goals: [
      { what: 'every transaction answered before the kernel limit', target: '0 timeouts, 0 stale writes', actual: `${timeouts.length} timeouts, ${stale} stale writes`, met: timeouts.length === 0 && stale === 0 },
      { what: 'nothing left frozen, journal consistent', target: 'no hook frozen, frozen: false', actual: failures.some((f) => /frozen/.test(f)) ? failures.filter((f) => /frozen/.test(f)).join('; ') : 'none frozen, frozen: false', met: !failures.some((f) => /frozen/.test(f)) },
    ],
    notes: [
      `${transactions} transactions in ${seconds.toFixed(0)} s; daemon RSS ${(rssStart / 1024).toFixed(1)} MiB at the start, ${(rssEnd / 1024).toFixed(1)} MiB at the end.`,
      'Replay: the seed is SOAK_SEED in bench/soak.ts; the same seed gives the same plans, scenarios and pauses.',
    ],
    failures,
    data: { transactions, seconds, byReason: Object.fromEntries(byReason), events: Object.fromEntries(events.counts), behaviourCounts, scenarioCounts, appMedian: median(appTotals), appP99: p99(appTotals), maxTotal, rssStart, rssEnd },
  };
}
