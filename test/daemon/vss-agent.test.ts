// VssAgent's decisions with a fake device, a fake hooks engine and a fake clock, over the real
// FreezeEngine and journal: the paths that are hard to provoke end to end (a success that leaves
// too late, an answer that cannot be written, a stop in the middle of a freeze).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VssAgent } from '../../src/daemon/vss-agent.ts';
import { FreezeJournal } from '../../src/state/freeze-journal.ts';
import { FreezeEngine } from '../../src/engine/freeze-engine.ts';
import type { HookEngine, RunContext } from '../../src/engine/hook-engine.ts';
import { AgentLogger, type LogLevel } from '../../src/log/logger.ts';
import type { AnswerReceipt, RequestChannel, VssRequest } from '../../src/native/vss-device.ts';
import type { FrozenHook, HookResult, ScanResult } from '../../src/hooks/index.ts';
import { opFromCode } from '../../src/protocol/hv-vss.ts';
import { FakeClock } from '../support/fake-clock.ts';

const KERNEL_TIMEOUT_MS = 15_000;

class FakeDevice implements RequestChannel {
  readonly path = '/dev/fake_appvss';
  readonly kernelTimeoutMs = KERNEL_TIMEOUT_MS;
  readonly answers: Array<{ opt: number; msgid: bigint; status: string; late: boolean }> = [];
  /** How long writing an answer takes (a stalled system), in fake time. */
  answerStallMs = 0;
  readonly #clock: FakeClock;
  readonly #queue: number[];
  #msgid = 1_795_000_000_000_000_000n;

  constructor(clock: FakeClock, ops: number[]) {
    this.#clock = clock;
    this.#queue = [...ops];
  }

  async nextRequest(): Promise<VssRequest | null> {
    const opt = this.#queue.shift();
    if (opt === undefined) return null;
    const msgid = this.#msgid++;
    return { opt, op: opFromCode(opt), msgid, msgidText: msgid.toString(), readAt: this.#clock.now(), readAtWall: this.#clock.wallNow(), malformed: undefined };
  }

  answer(request: VssRequest, status: 'success' | 'fail'): AnswerReceipt {
    this.#clock.advance(this.answerStallMs);
    const elapsedMs = this.#clock.now() - request.readAt;
    const late = elapsedMs >= this.kernelTimeoutMs;
    this.answers.push({ opt: request.opt, msgid: request.msgid, status, late });
    return { status, elapsedMs, late };
  }
}

/** Records calls; each hook "takes" `costMs` of fake time; freeze fails when told to. */
class FakeHooks implements HookEngine {
  readonly dir = '/fake/hooks.d';
  readonly calls: string[] = [];
  costMs = 10;
  /** Per op, when set: the cost of each hook of that op instead of costMs. */
  readonly opCostMs: Partial<Record<'check' | 'freeze' | 'thaw', number>> = {};
  failFreeze = false;
  /** Called before each freeze hook runs (e.g. to look at the journal, or stop the agent). */
  beforeFreezeHook: (name: string) => void = () => {};
  readonly #clock: FakeClock;
  readonly #names = ['10-db', '20-app'];

  constructor(clock: FakeClock) {
    this.#clock = clock;
  }

  async scan(): Promise<ScanResult> {
    const entries = this.#names.map((name) => ({ name, path: `${this.dir}/${name}`, verdict: 'runnable' as const }));
    return { dir: this.dir, entries, runnable: entries, refused: [] };
  }

  #run(op: 'check' | 'freeze' | 'thaw', names: string[], context: RunContext, ok: (name: string) => boolean): HookResult[] {
    return names.map((hook) => {
      this.calls.push(`${hook} ${op} ${context.reason}`);
      const cost = this.opCostMs[op] ?? this.costMs;
      this.#clock.advance(cost);
      return { hook, op, reason: context.reason, ok: ok(hook), exitCode: ok(hook) ? 0 : 1, signal: null, timedOut: false, durationMs: cost, startedAt: '' };
    });
  }

  async check(_scan: ScanResult, context: RunContext) {
    return { ok: true, results: this.#run('check', this.#names, context, () => true), problems: [] };
  }

  async freeze(_scan: ScanResult, context: RunContext) {
    // Like freezeAll: stops at the first failure, and at an abort (the running hook counts as started).
    const started: string[] = [];
    const results: HookResult[] = [];
    for (const name of this.failFreeze ? this.#names.slice(0, 1) : this.#names) {
      this.beforeFreezeHook(name);
      started.push(name);
      const aborted = context.signal?.aborted === true;
      results.push(...this.#run('freeze', [name], context, () => !this.failFreeze && !aborted));
      if (aborted) break;
    }
    const ok = results.every((r) => r.ok);
    return { ok, results, problems: [], frozen: started.map((name) => ({ hook: { name, path: `${this.dir}/${name}` } })) };
  }

  async thaw(frozen: readonly FrozenHook[], context: RunContext) {
    // Hooks run in other processes: time passes after the caller went on (and armed its timers).
    await Promise.resolve();
    return { ok: true, results: this.#run('thaw', [...frozen].reverse().map((f) => f.hook.name), context, () => true), problems: [] };
  }
}

function setup(ops: number[], options: { journal?: FreezeJournal; maxFrozenMs?: number } = {}) {
  const clock = new FakeClock();
  const dir = mkdtempSync(join(tmpdir(), 'hvvss-agent-'));
  const journal = options.journal ?? new FreezeJournal(join(dir, 'frozen.json'));
  const lines: Array<[LogLevel, string]> = [];
  const log = new AgentLogger({ write: (level, message) => lines.push([level, message]) }, { debug: true });
  const hooks = new FakeHooks(clock);
  const device = new FakeDevice(clock, ops);
  const engine = new FreezeEngine({ hooks, journal, clock, log, holder: { kind: 'daemon', pid: process.pid } });
  const agent = new VssAgent({ engine, clock, log, settings: { requestTimeoutMs: 10_000, maxFrozenMs: options.maxFrozenMs ?? 60_000 } });
  const journalState = () => JSON.parse(readFileSync(journal.path, 'utf8')) as { frozen: boolean };
  return { clock, dir, journal, journalState, lines, log, hooks, device, agent, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('check, freeze, thaw: hooks in order, answers success, the journal records and clears the freeze', async () => {
  const t = setup([1, 2, 3]);
  await t.agent.run(t.device);
  assert.deepEqual(t.device.answers.map((a) => a.status), ['success', 'success', 'success']);
  assert.deepEqual(t.hooks.calls, ['10-db check host', '20-app check host', '10-db freeze host', '20-app freeze host', '20-app thaw host', '10-db thaw host']);
  assert.equal(t.journalState().frozen, false);
  assert.deepEqual(t.agent.status().transactions.map((r) => `${r.op} ${r.result}`), ['thaw success', 'freeze success', 'check success']);
  assert.deepEqual(t.agent.status().counters.map((c) => `${c.op} ${c.reason} ${c.result} ${c.count}`), ['check host success 1', 'freeze host success 1', 'thaw host success 1']);
  assert.equal(t.agent.status().lateAnswers, 0);
  t.cleanup();
});

test('the intent is in the journal before the first freeze hook runs, naming every hook about to be frozen', async () => {
  const t = setup([2, 3]);
  const seen: Array<{ frozen: boolean; hooks?: Array<{ name: string }> }> = [];
  t.hooks.beforeFreezeHook = () => seen.push(t.journalState());
  await t.agent.run(t.device);
  assert.deepEqual(seen.map((j) => [j.frozen, j.hooks?.map((h) => h.name)]), [[true, ['10-db', '20-app']], [true, ['10-db', '20-app']]]);
  assert.equal(t.journalState().frozen, false);
  t.cleanup();
});

test('a FREEZE success that leaves after the kernel limit (a stalled write to the device) is thawed at once', async () => {
  const t = setup([2]);
  t.device.answerStallMs = 16_000;
  await t.agent.run(t.device);
  assert.deepEqual(t.device.answers.map((a) => [a.status, a.late]), [['success', true]]);
  assert.equal(t.agent.status().lateAnswers, 1);
  assert.deepEqual(t.agent.status().counters.map((c) => `${c.op} ${c.reason} ${c.result}`), ['freeze host success', 'thaw rollback success']);
  assert.deepEqual(t.hooks.calls, ['10-db freeze host', '20-app freeze host', '20-app thaw rollback', '10-db thaw rollback']);
  assert.ok(t.lines.some(([level, m]) => level === 'error' && /went out .* past the kernel's 15000 ms limit.*Thawing now/.test(m)));
  assert.equal(t.agent.status().frozen, undefined);
  assert.equal(t.journalState().frozen, false);
  t.cleanup();
});

test('a FREEZE success that cannot be written (device closed or gone) is rolled back', async () => {
  const t = setup([2]);
  t.device.answer = () => {
    throw new Error('ioctl(IOCHVVSSWRITE) on /dev/fake_appvss: EBADF');
  };
  await t.agent.run(t.device);
  assert.deepEqual(t.hooks.calls, ['10-db freeze host', '20-app freeze host', '20-app thaw rollback', '10-db thaw rollback']);
  assert.ok(t.lines.some(([, m]) => /could not be delivered: the host will not send THAW/.test(m)));
  assert.equal(t.agent.status().frozen, undefined);
  assert.equal(t.journalState().frozen, false);
  t.cleanup();
});

test('stop() in the middle of a freeze cuts it short and rolls back what was started before run() returns', async () => {
  const t = setup([2, 3]);
  t.hooks.beforeFreezeHook = (name) => {
    if (name === '20-app') t.agent.stop('SIGTERM');
  };
  await t.agent.run(t.device);
  assert.deepEqual(t.hooks.calls, ['10-db freeze host', '20-app freeze host', '20-app thaw rollback', '10-db thaw rollback']);
  assert.deepEqual(t.device.answers.map((a) => a.status), ['fail'], 'the THAW after the stop is not read');
  await t.agent.shutdown();
  assert.equal(t.journalState().frozen, false);
  t.cleanup();
});

test('a THAW is answered by its deadline even when the thaw hooks take longer; they finish in the background', async () => {
  const t = setup([2, 3]);
  t.hooks.opCostMs.thaw = 6_000; // two hooks: 12 s > the 10 s deadline
  await t.agent.run(t.device);
  assert.deepEqual(t.device.answers.map((a) => [a.opt, a.status, a.late]), [[2, 'success', false], [3, 'fail', false]]);
  assert.ok(t.lines.some(([, m]) => /thaw hooks still running at the 10000 ms deadline; they go on in the background/.test(m)));
  assert.deepEqual(t.hooks.calls.slice(-2), ['20-app thaw host', '10-db thaw host']);
  assert.equal(t.journalState().frozen, false);
  t.cleanup();
});

test('a garbage journal does not stop the start: it is kept, and CHECK and FREEZE fail with the reason', async () => {
  const t = setup([1, 2]);
  writeFileSync(t.journal.path, '{"frozen": true, "hooks": "/tmp/evil"}');
  await t.agent.recover();
  await t.agent.run(t.device);
  assert.deepEqual(t.device.answers.map((a) => a.status), ['fail', 'fail']);
  assert.deepEqual(t.hooks.calls, []);
  assert.ok(t.lines.some(([, m]) => /CHECK \(msgid \d+\) cannot be application-consistent: the freeze journal .* does not list the frozen hooks by name.*kept/.test(m)));
  assert.equal(readFileSync(t.journal.path, 'utf8'), '{"frozen": true, "hooks": "/tmp/evil"}');
  t.cleanup();
});

test('hooks that finish after the request deadline: rolled back and answered failure', async () => {
  const t = setup([2]);
  t.hooks.costMs = 6_000; // two hooks: 12 s > the 10 s deadline
  await t.agent.run(t.device);
  assert.deepEqual(t.device.answers.map((a) => a.status), ['fail']);
  assert.deepEqual(t.hooks.calls.slice(-2), ['20-app thaw rollback', '10-db thaw rollback']);
  assert.ok(t.lines.some(([, m]) => /past the 10000 ms deadline/.test(m)));
  t.cleanup();
});

test('a journal that cannot be written: nothing is frozen and the FREEZE is answered failure', async () => {
  // A full disk: the journal reads fine, but the intent cannot be written.
  const full = new (class extends FreezeJournal {
    override async recordIntent(): Promise<void> {
      throw new Error('ENOSPC: no space left on device');
    }
  })(join(mkdtempSync(join(tmpdir(), 'hvvss-agent-')), 'frozen.json'));
  const t = setup([2], { journal: full });
  await t.agent.run(t.device);
  assert.deepEqual(t.device.answers.map((a) => a.status), ['fail']);
  assert.deepEqual(t.hooks.calls, []);
  assert.ok(t.lines.some(([, m]) => /cannot record the freeze .* nothing was frozen/.test(m)));
  t.cleanup();
});

test('a second FREEZE while frozen thaws the first before freezing again', async () => {
  const t = setup([2, 2, 3]);
  await t.agent.run(t.device);
  assert.deepEqual(t.device.answers.map((a) => a.status), ['success', 'success', 'success']);
  assert.deepEqual(t.hooks.calls, [
    '10-db freeze host', '20-app freeze host',
    '20-app thaw rollback', '10-db thaw rollback',
    '10-db freeze host', '20-app freeze host',
    '20-app thaw host', '10-db thaw host',
  ]);
  t.cleanup();
});

test('THAW with nothing frozen succeeds without running hooks; an unknown opt is answered failure', async () => {
  const t = setup([3, 7]);
  await t.agent.run(t.device);
  assert.deepEqual(t.device.answers.map((a) => [a.opt, a.status]), [[3, 'success'], [7, 'fail']]);
  assert.deepEqual(t.hooks.calls, []);
  t.cleanup();
});

test('log lines are held while frozen and flushed, in order, after the thaw', async () => {
  const t = setup([2]);
  await t.agent.run(t.device);
  const before = t.lines.length;
  assert.ok(!t.lines.some(([, m]) => /answered success to freeze/.test(m)), 'held while frozen');
  assert.ok(t.agent.status().frozen);
  await t.agent.shutdown();
  const flushed = t.lines.slice(before).map(([, m]) => m);
  assert.ok(flushed.findIndex((m) => /answered success to freeze/.test(m)) < flushed.findIndex((m) => /thaw \(shutdown/.test(m)));
  assert.deepEqual(t.hooks.calls.slice(-2), ['20-app thaw shutdown', '10-db thaw shutdown']);
  t.cleanup();
});

test('the watchdog thaws when no THAW comes within --max-frozen', async () => {
  const t = setup([2], { maxFrozenMs: 30_000 });
  await t.agent.run(t.device);
  assert.ok(t.agent.status().frozen);
  t.clock.advance(30_000);
  await t.agent.shutdown(); // waits for the queued watchdog thaw; nothing is left for shutdown
  assert.deepEqual(t.hooks.calls.slice(-2), ['20-app thaw watchdog', '10-db thaw watchdog']);
  assert.equal(t.journalState().frozen, false);
  t.cleanup();
});

test('recovery thaws what the journal recorded, in reverse order', async () => {
  const t = setup([]);
  // Paths in the journal are never run: names are resolved in the configured hooks directory.
  await t.journal.recordIntent({ since: '2026-11-25T00:00:00.000Z', reason: 'host', msgid: '42', holder: { pid: 1, kind: 'daemon' }, hooksDir: t.hooks.dir, hooks: [{ name: '10-db', path: '/tmp/planted' }, { name: '20-app', path: '/tmp/planted' }] });
  const thawed: string[] = [];
  const thaw = t.hooks.thaw.bind(t.hooks);
  t.hooks.thaw = async (frozen, context) => {
    thawed.push(...frozen.map((f) => f.hook.path));
    return thaw(frozen, context);
  };
  await t.agent.recover();
  assert.deepEqual(t.hooks.calls, ['20-app thaw recovery', '10-db thaw recovery']);
  assert.deepEqual(thawed, ['/fake/hooks.d/10-db', '/fake/hooks.d/20-app']);
  assert.equal(t.journal.read(), undefined);
  t.cleanup();
});

test('requests read while a failed freeze is rolled back are answered at once (a THAW after the rollback)', async () => {
  const t = setup([2, 1, 3]);
  t.hooks.failFreeze = true;
  // The rollback's thaw hangs until the CHECK that arrives meanwhile has been answered.
  let openGate = () => {};
  const gate = new Promise<void>((resolve) => (openGate = resolve));
  const answer = t.device.answer.bind(t.device);
  t.device.answer = (request, status) => {
    const receipt = answer(request, status);
    if (request.opt === 1) openGate();
    return receipt;
  };
  const thaw = t.hooks.thaw.bind(t.hooks);
  t.hooks.thaw = async (frozen, context) => {
    await gate;
    return thaw(frozen, context);
  };
  await t.agent.run(t.device);
  assert.deepEqual(t.device.answers.map((a) => [a.opt, a.status, a.late]), [[2, 'fail', false], [1, 'fail', false], [3, 'success', false]]);
  assert.ok(t.lines.some(([, m]) => /CHECK \(msgid \d+\) answered failure at once: the agent is busy rolling back a failed freeze/.test(m)));
  assert.deepEqual(t.hooks.calls, ['10-db freeze host', '10-db thaw rollback']);
  t.cleanup();
});
