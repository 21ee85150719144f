// Order statistics for the benchmarks: medians and p99 rather than means, because latency
// distributions on a shared 2-core machine have long right tails that a mean would smear.
export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly p99: number;
  readonly min: number;
  readonly max: number;
}

/**
 * The q-quantile by linear interpolation between closest ranks (R's type 7, numpy's default),
 * so small samples give a value between two observations rather than jumping between them.
 */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

export function p99(values: readonly number[]): number {
  return quantile(values, 0.99);
}

export function summarize(values: readonly number[]): Summary {
  return {
    n: values.length,
    median: median(values),
    p99: p99(values),
    min: values.length ? Math.min(...values) : Number.NaN,
    max: values.length ? Math.max(...values) : Number.NaN,
  };
}

/** Least-squares slope of y over x (e.g. RSS over cycles), to tell a leak from a one-time step. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return Number.NaN;
  let sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (let i = 0; i < n; i++) {
    const x = xs[i] as number, y = ys[i] as number;
    sx += x; sy += y; sxx += x * x; sxy += x * y;
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

/** Every number finite: a benchmark that yields NaN has not produced its figures. */
export function allFinite(...values: number[]): boolean {
  return values.every((v) => Number.isFinite(v));
}

/** Milliseconds for tables: three decimals below 10 ms, fewer above (µs matter only near the floor). */
export function ms(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  return value.toFixed(abs < 10 ? 3 : abs < 100 ? 2 : 1);
}

export function ratio(value: number, reference: number): string {
  return Number.isFinite(value) && Number.isFinite(reference) && reference > 0 ? `${(value / reference).toFixed(2)}x` : 'n/a';
}

export function signedMs(value: number): string {
  return Number.isFinite(value) ? `${value >= 0 ? '+' : ''}${ms(value)}` : 'n/a';
}
