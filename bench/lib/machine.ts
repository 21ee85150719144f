// The machine a run happened on, and how busy it was meanwhile: the benchmarks share 2 cores
// with other engineers' test runs, so every figure is read next to the load it was taken under.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';

export interface MachineInfo {
  readonly nproc: number;
  readonly cpuModel: string;
  readonly node: string;
  readonly kernel: string;
  readonly memoryGiB: number;
  readonly date: string;
  /** The commit measured, and whether the product's files differed from it. */
  readonly commit: string;
}

function commitOf(repo: string): string {
  try {
    const head = execFileSync('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', repo, 'status', '--porcelain', '--', 'src', 'bin', 'package.json'], { encoding: 'utf8' }).trim();
    return dirty ? `${head} (src/bin with uncommitted changes)` : head;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

export function machineInfo(repo: string): MachineInfo {
  return {
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    node: process.version,
    kernel: `${process.platform} ${release()}`,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    date: new Date().toISOString(),
    commit: commitOf(repo),
  };
}

interface CpuTimes {
  readonly busy: number;
  readonly total: number;
}

/** Aggregate jiffies from /proc/stat: busy = everything but idle and iowait. */
function cpuTimes(): CpuTimes {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

export interface LoadWindow {
  /** 1-minute load average at the start and the end. */
  readonly loadStart: number;
  readonly loadEnd: number;
  /** Share of all cores busy during the window (ours included), in percent. */
  readonly busyPercent: number;
}

/** Starts watching; call the returned function at the end of the window. */
export function watchLoad(): () => LoadWindow {
  const start = cpuTimes();
  const loadStart = loadavg()[0] ?? 0;
  return () => {
    const end = cpuTimes();
    const total = end.total - start.total;
    return {
      loadStart,
      loadEnd: loadavg()[0] ?? 0,
      busyPercent: total > 0 ? Math.round(((end.busy - start.busy) / total) * 1000) / 10 : 0,
    };
  };
}
