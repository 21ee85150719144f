// A hooks engine with one hook, 10-db, that records its freeze and thaw: for the fs-stage tests,
// where what matters is the order of hooks and file systems, not the hooks themselves.
import type { HookEngine, RunContext } from '../../src/engine/hook-engine.ts';
import type { FrozenHook, ScanResult } from '../../src/hooks/index.ts';

export class Hooks implements HookEngine {
  readonly dir = '/fake/hooks.d';
  readonly calls: string[];
  constructor(calls: string[]) {
    this.calls = calls;
  }
  async scan(): Promise<ScanResult> {
    const entries = [{ name: '10-db', path: `${this.dir}/10-db`, verdict: 'runnable' as const }];
    return { dir: this.dir, entries, runnable: entries, refused: [] };
  }
  async check() {
    return { ok: true, results: [], problems: [] };
  }
  async freeze(_scan: ScanResult, context: RunContext) {
    this.calls.push(`hook freeze ${context.reason}`);
    return { ok: true, results: [], problems: [], frozen: [{ hook: { name: '10-db', path: `${this.dir}/10-db` } }] };
  }
  async thaw(frozen: readonly FrozenHook[], context: RunContext) {
    for (const f of frozen) this.calls.push(`hook thaw ${f.hook.name} ${context.reason}`);
    return { ok: true, results: [], problems: [] };
  }
}
