// `npm run bench [-- --quick] [-- --only NAME,NAME] [-- --out FILE]`: runs the benchmarks
// against one emulated kernel and writes docs/benchmarks.md (full run) or a temporary file
// (--quick, --only: a smoke run must not replace the published figures).
//
// Exit status: 0 when every benchmark produced its figures and the soak found nothing frozen
// and no kernel timeout; 1 otherwise. Timing goals never fail the run: they are reported.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startEmulator, type RunningEmulator } from '../src/emulator/host-client.ts';
import { compileC } from './lib/c-build.ts';
import type { BenchContext } from './lib/context.ts';
import { machineInfo, watchLoad } from './lib/machine.ts';
import { failed, type BenchResult, type RunRecord } from './lib/report.ts';
import { renderReport } from './lib/render.ts';
import { REPO, snapshotPackage } from './lib/snapshot.ts';
import { responseFloor } from './response-floor.ts';
import { hookDispatch } from './hook-dispatch.ts';
import { thawReaction } from './thaw-reaction.ts';
import { footprint } from './footprint.ts';
import { cliStart } from './cli-start.ts';
import { soak } from './soak.ts';
import { fsFreeze } from './fs-freeze.ts';

const BENCHMARKS: ReadonlyArray<{ name: string; title: string; run: (ctx: BenchContext) => Promise<BenchResult> }> = [
  { name: 'floor', title: '1. Response floor', run: responseFloor },
  { name: 'dispatch', title: '2. Hook dispatch', run: hookDispatch },
  { name: 'thaw', title: '3. Thaw reaction', run: thawReaction },
  { name: 'footprint', title: '4. Footprint', run: footprint },
  { name: 'cli', title: '5. CLI start', run: cliStart },
  { name: 'soak', title: '6. Soak', run: soak },
  { name: 'fs', title: '7. File-system freeze', run: fsFreeze },
];

/** The emulated kernel's limit for the whole run: short, so the soak's hanging hooks finish in minutes. */
const KERNEL_TIMEOUT_S = 3;

const DOC = join(REPO, 'docs', 'benchmarks.md');

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, out: { type: 'string' } },
  });
  const quick = values.quick ?? false;
  const only = values.only?.split(',').map((s) => s.trim());
  const unknown = only?.filter((name) => !BENCHMARKS.some((b) => b.name === name)) ?? [];
  if (unknown.length) throw new Error(`--only takes ${BENCHMARKS.map((b) => b.name).join(', ')}; got ${unknown.join(', ')}`);
  if (process.getuid?.() !== 0) throw new Error('the benchmarks mount the emulator (FUSE) and must run as root');
  const selected = BENCHMARKS.filter((b) => !only || only.includes(b.name));
  const started = performance.now();
  const machine = machineInfo(REPO);

  const tmp = mkdtempSync(join(tmpdir(), 'hvvss-bench-'));
  chmodSync(tmp, 0o755);
  let emu: RunningEmulator | undefined;
  const stop = async () => {
    await emu?.stop().catch(() => {});
    rmSync(tmp, { recursive: true, force: true });
  };
  // An interrupted run must still unmount the emulator.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stop().then(() => process.exit(130)));

  const records: RunRecord[] = [];
  try {
    const hvvssBin = snapshotPackage(tmp);
    const responder = compileC('responder', tmp);
    emu = await startEmulator({ timeoutMs: KERNEL_TIMEOUT_S * 1000 });
    const ctx: BenchContext = {
      quick,
      emu,
      kernelTimeoutS: KERNEL_TIMEOUT_S,
      hvvssBin,
      responder,
      tmp,
      progress: (line) => process.stderr.write(`bench: ${line}\n`),
    };
    for (const bench of selected) {
      ctx.progress(`${bench.title} ...`);
      const load = watchLoad();
      const t0 = performance.now();
      let result: BenchResult;
      try {
        result = await bench.run(ctx);
      } catch (err) {
        result = failed(bench.name, bench.title, err);
      }
      const record = { ...result, load: load(), seconds: (performance.now() - t0) / 1000 };
      records.push(record);
      ctx.progress(`${bench.title}: ${record.failures.length ? `FAILED: ${record.failures[0]}` : 'done'} in ${record.seconds.toFixed(1)} s`);
    }
  } finally {
    await stop();
  }

  const totalSeconds = (performance.now() - started) / 1000;
  const publish = !quick && !only && !values.out;
  const out = values.out ?? (publish ? DOC : join(tmpdir(), `hvvss-bench-${quick ? 'quick' : 'partial'}-${Date.now()}.md`));
  const previous = existsSync(out) ? readFileSync(out, 'utf8') : existsSync(DOC) ? readFileSync(DOC, 'utf8') : '';
  const markdown = renderReport({ records, machine, quick, only, totalSeconds, kernelTimeoutS: KERNEL_TIMEOUT_S, previous });
  writeFileSync(out, markdown);
  if (!publish) process.stdout.write(markdown);
  const failures = records.flatMap((r) => r.failures.map((f) => `${r.title}: ${f}`));
  process.stderr.write(`bench: report written to ${out} (${totalSeconds.toFixed(0)} s)\n`);
  for (const f of failures) process.stderr.write(`bench: FAILED ${f}\n`);
  return failures.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
