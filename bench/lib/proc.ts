// Per-process figures from Linux /proc, read from outside so that measuring never wakes the
// process being measured.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

function status(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) out[line.slice(0, colon)] = line.slice(colon + 1).trim();
  }
  return out;
}

/** Resident set size in KiB (VmRSS). */
export function rssKiB(pid: number): number {
  return Number.parseInt(status(pid).VmRSS ?? 'NaN', 10);
}

/** What each open descriptor points at, by fd number. */
export function openFds(pid: number): Map<number, string> {
  const fds = new Map<number, string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      fds.set(Number(fd), readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // Closed between readdir and readlink.
    }
  }
  return fds;
}

export interface CpuUse {
  /** utime + stime from /proc/PID/stat, in clock ticks (USER_HZ, 100 per second on Linux). */
  readonly ticks: number;
  /** Sum over threads of the scheduler's on-CPU time, in ns (far finer than ticks). */
  readonly onCpuNs: number;
  /** Sum over threads of voluntary + involuntary context switches: every wake-up counts one. */
  readonly switches: number;
  readonly threads: number;
  /** Context switches per thread name (comm), to tell the event loop from V8's or libuv's workers. */
  readonly byThread: Record<string, number>;
}

export function cpuUse(pid: number): CpuUse {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name (which may contain spaces): utime is field 14.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[11]) + Number(rest[12]);
  let onCpuNs = 0;
  let switches = 0;
  let threads = 0;
  const byThread: Record<string, number> = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      onCpuNs += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      const st = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      let n = 0;
      for (const key of ['voluntary_ctxt_switches', 'nonvoluntary_ctxt_switches']) {
        n += Number(new RegExp(`^${key}:\\s*(\\d+)`, 'm').exec(st)?.[1] ?? 0);
      }
      switches += n;
      const name = `${readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim()}${tid === String(pid) ? ' (main)' : ''}`;
      byThread[name] = (byThread[name] ?? 0) + n;
      threads++;
    } catch {
      // A thread that ended meanwhile.
    }
  }
  return { ticks, onCpuNs, switches, threads, byThread };
}

/** Pids whose command line contains `needle` (to find hook processes left behind). */
export function pidsMatching(needle: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(needle)) found.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}
