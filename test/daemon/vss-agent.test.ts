// VssAgent's decisions with a fake device, a fake hooks engine and a fake clock: the paths that
// are hard to provoke end to end (a success that leaves too late, a stalled journal write).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VssAgent } from '../../src/daemon/vss-agent.ts';
import { FreezeJournal } from '../../src/daemon/freeze-journal.ts';
import type { HookEngine, RunContext } from '../../src/daemon/hook-engine.ts';
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
  failFreeze = false;
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
      this.#clock.advance(this.costMs);
      return { hook, op, reason: context.reason, ok: ok(hook), exitCode: ok(hook) ? 0 : 1, signal: null, timedOut: false, durationMs: this.costMs, startedAt: '' };
    });
  }

  async check(_scan: ScanResult, context: RunContext) {
    return { ok: true, results: this.#run('check', this.#names, context, () => true), problems: [] };
  }

  async freeze(_scan: ScanResult, context: RunContext) {
    const names = this.failFreeze ? this.#names.slice(0, 1) : this.#names;
    const results = this.#run('freeze', names, context, () => !this.failFreeze);
    return { ok: !this.failFreeze, results, problems: [], frozen: names.map((name) => ({ hook: { name, path: `${this.dir}/${name}` } })) };
  }

  async thaw(frozen: readonly FrozenHook[], context: RunContext) {
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
  const agent = new VssAgent({ hooks, journal, clock, log, settings: { requestTimeoutMs: 10_000, maxFrozenMs: options.maxFrozenMs ?? 60_000 } });
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

test('a FREEZE success that leaves after the kernel limit (stalled journal write) is thawed at once', async () => {
  const clock = new FakeClock();
  const dir = mkdtempSync(join(tmpdir(), 'hvvss-agent-'));
  // The disk stalls for 16 s while the freeze is recorded: the success goes out too late.
  const stalled = new (class extends FreezeJournal {
    override async recordFrozen(record: Parameters<FreezeJournal['recordFrozen']>[0]): Promise<void> {
      await super.recordFrozen(record);
      clock.advance(16_000);
    }
  })(join(dir, 'frozen.json'));
  const t = setup([2], { journal: stalled });
  // setup() made its own clock: rebuild the agent on the stalled journal's clock.
  const hooks = new FakeHooks(clock);
  const device = new FakeDevice(clock, [2]);
  const agent = new VssAgent({ hooks, journal: stalled, clock, log: t.log, settings: { requestTimeoutMs: 10_000, maxFrozenMs: 60_000 } });
  await agent.run(device);
  assert.deepEqual(device.answers.map((a) => [a.status, a.late]), [['success', true]]);
  assert.equal(agent.status().lateAnswers, 1);
  assert.deepEqual(agent.status().counters.map((c) => `${c.op} ${c.reason} ${c.result}`), ['freeze host success', 'thaw rollback success']);
  assert.deepEqual(hooks.calls, ['10-db freeze host', '20-app freeze host', '20-app thaw rollback', '10-db thaw rollback']);
  assert.ok(t.lines.some(([level, m]) => level === 'error' && /went out .* past the kernel's 15000 ms limit.*Thawing now/.test(m)));
  assert.equal(agent.status().frozen, undefined);
  assert.equal(JSON.parse(readFileSync(stalled.path, 'utf8')).frozen, false);
  rmSync(dir, { recursive: true, force: true });
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

test('a journal that cannot be written: the freeze is rolled back and answered failure', async () => {
  // A regular file where the state directory should be: every write fails with ENOTDIR.
  const blocker = join(mkdtempSync(join(tmpdir(), 'hvvss-agent-')), 'not-a-dir');
  writeFileSync(blocker, '');
  const t = setup([2], { journal: new FreezeJournal(join(blocker, 'frozen.json')) });
  await t.agent.run(t.device);
  assert.deepEqual(t.device.answers.map((a) => a.status), ['fail']);
  assert.deepEqual(t.hooks.calls.slice(-2), ['20-app thaw rollback', '10-db thaw rollback']);
  assert.ok(t.lines.some(([, m]) => /cannot record the freeze/.test(m)));
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
  await t.journal.recordFrozen({ since: '2026-11-25T00:00:00.000Z', reason: 'host', msgid: '42', holder: { pid: 1, kind: 'daemon' }, hooksDir: t.hooks.dir, hooks: [{ name: '10-db', path: '/x/10-db' }, { name: '20-app', path: '/x/20-app' }] });
  await t.agent.recover(await t.journal.read());
  assert.deepEqual(t.hooks.calls, ['20-app thaw recovery', '10-db thaw recovery']);
  assert.equal(await t.journal.read(), undefined);
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
