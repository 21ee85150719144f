// Benchmark 5, CLI start: wall time of `hvvss --help` and `hvvss status --json` (or, while the
// status command does not exist, `hvvss simulate -h`, which loads a command module and koffi)
// against `node -e 0`, all warm (Node's compile cache filled by warm-up runs where bin/run.cjs
// enables it), timed by the same spawn-to-exit loop and interleaved so that machine load falls
// on all alike. Then the memory of the short-lived commands: peak RSS of `status --json` and of
// `freeze -- CMD`, and the latter's RSS while CMD runs, against node -e 0's peak.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { mkdirSync, chmodSync } from 'node:fs';
import { startDaemon, type Agent } from './lib/agents.ts';
import { compileC } from './lib/c-build.ts';
import { hookName, hooksDir, shellHook } from './lib/hooks.ts';
import { scratch, type BenchContext } from './lib/context.ts';
import { timeOk } from './lib/spawn-timer.ts';
import { allFinite, median, ms, p99, ratio } from './lib/stats.ts';
import type { BenchResult, Table } from './lib/report.ts';

/** The goals (issue 13): `--help` within 3x node's start, `status --json` within 2.5x. */
const GOAL_RATIO: Record<string, number> = { 'hvvss --help': 3, 'hvvss status --json': 2.5 };
/** Runs per peak-RSS figure (the median is reported). */
const RSS_RUNS = 5;

const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

/** Peak RSS (KiB) of one run, by bench/c/maxrss.c (ru_maxrss from wait4); the command must exit 0. */
function peakRss(maxrss: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): number {
  const [kib, status] = execFileSync(maxrss, [process.execPath, ...args], { encoding: 'utf8', env }).trim().split(' ').map(Number);
  if (status !== 0) throw new Error(`node ${args.join(' ')} exited with ${status} (under maxrss)`);
  return kib ?? Number.NaN;
}

interface Manifest {
  readonly commands: Record<string, { flags?: Record<string, unknown> }>;
}

interface Subject {
  readonly label: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** A reference for the explanation, not a goal. */
  readonly diagnostic?: boolean;
}

export async function cliStart(ctx: BenchContext): Promise<BenchResult> {
  const reps = ctx.quick ? 8 : 40;
  const warmup = 3;
  const manifest = JSON.parse(readFileSync(join(dirname(dirname(ctx.hvvssBin)), 'oclif.manifest.json'), 'utf8')) as Manifest;
  const status = manifest.commands.status;
  const notes: string[] = [];
  let daemon: Agent | undefined;
  const packageRoot = dirname(dirname(ctx.hvvssBin));
  // What loading the framework alone costs, with a compile cache like bin/run.cjs's: the bundle's
  // run-cli entry (scripts/build.ts), which evaluates @oclif/core and calls nothing, and the same
  // import from node_modules.
  const cache = { ...process.env, NODE_COMPILE_CACHE: join(ctx.tmp, 'compile-cache') };
  const unbundled: Subject = {
    label: 'node -e "import \'@oclif/core\'" from node_modules (diagnostic)',
    args: ['--input-type=module', '-e', "import '@oclif/core'"],
    cwd: packageRoot,
    env: cache,
    diagnostic: true,
  };
  const entry = existsSync(join(packageRoot, 'dist', 'esbuild-meta.json')) ? join('dist', 'cli', 'run-cli.js') : undefined;
  const subjects: Subject[] = [
    { label: 'node -e 0 (reference)', args: ['-e', '0'] },
    // Without oclif's own Node version check, as bin/run.cjs loads it.
    entry
      ? { label: `node ${entry}: the bundle's @oclif/core evaluated, nothing run (diagnostic)`, args: [join(packageRoot, entry)], env: { ...cache, OCLIF_DISABLE_ENGINE_WARNING: '1' }, diagnostic: true }
      : unbundled,
    ...(entry ? [unbundled] : []),
    { label: 'hvvss --help', args: [ctx.hvvssBin, '--help'] },
    // The same through oclif, as before bin/run.cjs's root help fast path (src/cli/help-fast.ts):
    // what a terminal, or a variable that changes the help, still gets.
    { label: 'hvvss --help through oclif (HVVSS_NO_FAST_HELP=1; diagnostic)', args: [ctx.hvvssBin, '--help'], env: { ...process.env, HVVSS_NO_FAST_HELP: '1' }, diagnostic: true },
  ];
  try {
    if (status) {
      // status reads a running daemon's socket: give it one, so the figure is the real path.
      const root = scratch(ctx, 'cli');
      const hooks = join(root, 'hooks.d');
      mkdirSync(hooks);
      chmodSync(hooks, 0o755);
      daemon = await startDaemon(ctx, { hooksDir: hooks, root });
      const socket = join(root, 'run', 'hvvss.sock');
      const bySocketFlag = status.flags !== undefined && 'socket' in status.flags;
      subjects.push({
        label: 'hvvss status --json',
        args: [ctx.hvvssBin, 'status', '--json', ...(bySocketFlag ? ['--socket', socket] : [])],
        env: { ...process.env, HVVSS_SOCKET: socket },
      });
    } else {
      subjects.push({ label: 'hvvss simulate -h (no status command in this build)', args: [ctx.hvvssBin, 'simulate', '-h'] });
      notes.push('`hvvss status` did not exist in the build this run measured: `hvvss simulate -h` (a command module loaded, with koffi) stands in for it.');
    }
    const times: number[][] = subjects.map(() => []);
    const once = (s: Subject) => timeOk(process.execPath, s.args, { ...(s.env ? { env: s.env } : {}), ...(s.cwd ? { cwd: s.cwd } : {}) });
    for (let w = 0; w < warmup; w++) for (const s of subjects) await once(s);
    for (let r = 0; r < reps; r++) {
      for (let i = 0; i < subjects.length; i++) {
        const k = (r + i) % subjects.length;
        times[k]?.push(await once(subjects[k] as Subject));
      }
    }
    const reference = median(times[0] ?? []);
    const oclif = median(times[1] ?? []);
    const rss = memory(ctx, subjects);
    const failures = times.every((t) => allFinite(median(t), p99(t))) ? [] : ['no figures'];
    return {
      id: 'cli-start',
      title: '5. CLI start',
      method:
        `Spawn to exit, from the bench's Node process, stdout and stderr to /dev/null; ${warmup} warm-up runs of each (filling Node's ` +
        `compile cache, which bin/run.cjs enables for --help but not for status), then ${reps} runs of each, interleaved in rotating order.` +
        (status ? ' `hvvss status --json` talks to a daemon started for it (empty hooks directory).' : ''),
      tables: [{
        caption: 'Milliseconds',
        columns: ['Command', 'n', 'median', 'p99', 'ratio vs node -e 0 (median)'],
        rows: subjects.map((s, i) => [s.label, String(times[i]?.length ?? 0), ms(median(times[i] ?? [])), ms(p99(times[i] ?? [])), i === 0 ? '1.00x' : ratio(median(times[i] ?? []), reference)]),
      }, rss.table],
      goals: subjects.flatMap((s, i) => {
        if (i === 0 || s.diagnostic) return [];
        const m = median(times[i] ?? []);
        const goal = GOAL_RATIO[s.label] ?? 3;
        return {
          what: `${s.label} vs node -e 0, median`,
          target: `≤ ${goal}x`,
          actual: `${ratio(m, reference)} (${ms(m)} vs ${ms(reference)} ms)`,
          met: m / reference <= goal,
          why: s.label.includes('status')
            ? 'bin/run.cjs runs this command line without oclif (src/cli/status-fast.ts): what remains is Node\'s start, the status code\'s own ' +
              'modules, without the compile cache (it must not write while file systems may be suspended), and the status itself (socket, ' +
              'journal, hooks directory, a walk of /proc for hv_vss_daemon). See the notes.'
            : 'bin/run.cjs prints the root help without oclif (src/cli/help-fast.ts): oclif\'s own text, rendered at build time, checked ' +
              'against the package\'s manifests by a hash at each run; on a pipe or /dev/null, as here (on a terminal oclif wraps to its ' +
              `width and bolds the headings, so oclif prints it there). Evaluating @oclif/core alone takes ${ms(oclif - reference)} ms over ` +
              'node -e 0 (the diagnostic row); the help through oclif is the row with HVVSS_NO_FAST_HELP=1.',
        };
      }),
      notes: [...notes, ...rss.notes],
      failures,
      data: { ...Object.fromEntries(subjects.map((s, i) => [s.label, { median: median(times[i] ?? []), p99: p99(times[i] ?? []) }])), rss: rss.data },
    };
  } finally {
    await daemon?.stop();
  }
}

/**
 * Peak RSS of the short-lived commands against node -e 0's, and the RSS of `hvvss freeze -- CMD`
 * while CMD runs (what a backup script's freeze costs while it holds the hooks frozen).
 */
function memory(ctx: BenchContext, subjects: readonly Subject[]): { table: Table; notes: string[]; data: Record<string, number> } {
  const maxrss = compileC('maxrss', ctx.tmp);
  const runs = (args: readonly string[], env?: NodeJS.ProcessEnv) => median(Array.from({ length: RSS_RUNS }, () => peakRss(maxrss, args, env)));
  const root = scratch(ctx, 'freeze-cmd');
  const hooks = hooksDir(join(root, 'hooks.d'));
  for (let i = 0; i < 2; i++) shellHook(hooks, hookName(i), 'exit 0');
  const seen = join(root, 'rss-while-frozen');
  // No daemon on this socket: the command runs the hooks itself, as on a machine without one.
  const freezeArgs = [
    ctx.hvvssBin, 'freeze', '--json', '--hooks-dir', hooks, '--state-dir', join(root, 'state'), '--socket', join(root, 'none.sock'),
    '--', '/bin/sh', '-c', `grep VmRSS /proc/$PPID/status >> ${seen}`,
  ];
  const rows: Array<[string, number]> = [['node -e 0 (reference)', runs(['-e', '0'])]];
  for (const s of subjects.slice(1)) {
    if (s.diagnostic) continue;
    rows.push([s.label, runs(s.args, s.env)]);
  }
  rows.push(['hvvss freeze -- CMD (no daemon; CLI, hooks and CMD)', runs(freezeArgs)]);
  const during = median(readFileSync(seen, 'utf8').trim().split('\n').map((line) => Number.parseInt(line.replace(/\D+/g, ''), 10)));
  const reference = rows[0]?.[1] ?? Number.NaN;
  return {
    table: {
      caption: `Peak resident memory (ru_maxrss by bench/c/maxrss.c, median of ${RSS_RUNS} runs)`,
      columns: ['Command', 'peak RSS', 'ratio vs node -e 0'],
      rows: [
        ...rows.map(([label, kib], i) => [label, mib(kib), i === 0 ? '1.00x' : ratio(kib, reference)]),
        ['hvvss freeze -- CMD: the CLI\'s RSS while CMD runs (/proc/$PPID/status from CMD)', mib(during), ratio(during, reference)],
      ],
    },
    notes: [
      'Peak RSS is the largest resident set the process reached (for freeze, also its waited-for children: hooks and CMD, far smaller). ' +
        'The daemon\'s RSS with the file-system role is not measured yet: that role does not exist in this build.',
    ],
    data: { ...Object.fromEntries(rows), freezeWhileCmd: during },
  };
}
