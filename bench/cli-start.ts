// Benchmark 5, CLI start: wall time of `hvvss --help` and `hvvss status --json` (or, while the
// status command does not exist, `hvvss simulate -h`, which loads a command module and koffi)
// against `node -e 0`, all warm (Node's compile cache filled by warm-up runs), timed by the
// same spawn-to-exit loop and interleaved so that machine load falls on all alike.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { mkdirSync, chmodSync } from 'node:fs';
import { startDaemon, type Agent } from './lib/agents.ts';
import { scratch, type BenchContext } from './lib/context.ts';
import { timeOk } from './lib/spawn-timer.ts';
import { allFinite, median, ms, p99, ratio } from './lib/stats.ts';
import type { BenchResult } from './lib/report.ts';

const GOAL_RATIO = 3;

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
  const subjects: Subject[] = [
    { label: 'node -e 0 (reference)', args: ['-e', '0'] },
    {
      // What loading the framework alone costs, with a compile cache like bin/run.js's.
      label: 'node -e "import \'@oclif/core\'" (diagnostic)',
      args: ['--input-type=module', '-e', "import '@oclif/core'"],
      cwd: packageRoot,
      env: { ...process.env, NODE_COMPILE_CACHE: join(ctx.tmp, 'compile-cache') },
      diagnostic: true,
    },
    { label: 'hvvss --help', args: [ctx.hvvssBin, '--help'] },
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
    const failures = times.every((t) => allFinite(median(t), p99(t))) ? [] : ['no figures'];
    return {
      id: 'cli-start',
      title: '5. CLI start',
      method:
        `Spawn to exit, from the bench's Node process, stdout and stderr to /dev/null; ${warmup} warm-up runs of each (filling Node's ` +
        `compile cache, which bin/run.js enables), then ${reps} runs of each, interleaved in rotating order.` +
        (status ? ' `hvvss status --json` talks to a daemon started for it (empty hooks directory).' : ''),
      tables: [{
        caption: 'Milliseconds',
        columns: ['Command', 'n', 'median', 'p99', 'ratio vs node -e 0 (median)'],
        rows: subjects.map((s, i) => [s.label, String(times[i]?.length ?? 0), ms(median(times[i] ?? [])), ms(p99(times[i] ?? [])), i === 0 ? '1.00x' : ratio(median(times[i] ?? []), reference)]),
      }],
      goals: subjects.flatMap((s, i) => {
        if (i === 0 || s.diagnostic) return [];
        const m = median(times[i] ?? []);
        return {
          what: `${s.label} vs node -e 0, median`,
          target: `≤ ${GOAL_RATIO}x`,
          actual: `${ratio(m, reference)} (${ms(m)} vs ${ms(reference)} ms)`,
          met: m / reference <= GOAL_RATIO,
          why:
            `Importing @oclif/core alone takes ${ms(oclif - reference)} ms over node -e 0 (the diagnostic row), ` +
            `${Math.round(((oclif - reference) / (m - reference)) * 100)} % of this command's ${ms(m - reference)} ms; the rest is oclif ` +
            'reading its config and manifest and, for a command, loading the command module (koffi\'s native addon for the device commands). ' +
            'What would close it: a small entry point that answers --help and status from the manifest without importing @oclif/core, ' +
            'and lazy imports in the command modules; the 3x goal leaves about 2 × node\'s start-up for all of hvvss.',
        };
      }),
      notes,
      failures,
      data: Object.fromEntries(subjects.map((s, i) => [s.label, { median: median(times[i] ?? []), p99: p99(times[i] ?? []) }])),
    };
  } finally {
    await daemon?.stop();
  }
}
