// "hvvss status" as text for a person and as Prometheus metrics (the text exposition format).
import type { DaemonSnapshot, StatusReport } from './status.ts';
import { planLines } from '../fs/plan-text.ts';

const HEALTH_TEXT: Record<StatusReport['health'], string> = {
  healthy: 'OK',
  daemonNotRunning: 'DAEMON NOT RUNNING',
  frozenTooLong: 'FROZEN TOO LONG',
  unknown: 'UNKNOWN',
};

export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)} s`;
  const parts = [Math.floor(s / 86400) && `${Math.floor(s / 86400)}d`, Math.floor((s % 86400) / 3600) && `${Math.floor((s % 86400) / 3600)}h`, `${Math.floor((s % 3600) / 60)}m`, `${s % 60}s`];
  return parts.filter(Boolean).join(' ');
}

function ago(iso: string, now: number): string {
  return `${duration(Math.max(0, now - Date.parse(iso)))} ago`;
}

/** The application device, and the fs device when the daemon serves the fs channel too. */
function registeredOn(snap: DaemonSnapshot): string {
  const fs = snap.devices?.find((d) => d.role === 'fs');
  return fs ? `${snap.device} and ${fs.path} (fs role)` : snap.device;
}

/** The op as counted and shown: "fs freeze" for a request of the fs device, so it is told apart from the application device's. */
function opOf(t: StatusReport['transactions'][number]): string {
  return t.device ? `${t.device} ${t.op}` : t.op;
}

type MountResult = NonNullable<StatusReport['transactions'][number]['mounts']>[number];

/** One file system's result in a transaction: what was done to it, how it went, how long it took. */
function mountLine(m: MountResult): string {
  const how = `${m.ok ? 'ok' : 'FAILED'}, ${Math.round(m.durationMs)} ms${m.note ? ` (${m.note})` : ''}`;
  return `${m.op.padEnd(6)} ${m.mountpoint} (${m.fstype}, ${m.action}): ${how}${m.error ? `: ${m.error}` : ''}`;
}

export function renderStatus(report: StatusReport): string {
  const now = Date.parse(report.checkedAt);
  const lines: string[] = [`hvvss status: ${HEALTH_TEXT[report.health]}`];
  const row = (label: string, text: string) => lines.push(`${label.padEnd(10)} ${text}`);
  const { daemon } = report;
  const snap = daemon.snapshot;
  if (snap) {
    row('daemon', `running, pid ${snap.pid}, up ${duration(snap.uptimeMs)}, ${snap.registered ? `registered on ${registeredOn(snap)}` : `not registered on ${snap.device}`}`);
    const frozen = snap.frozen;
    let state: string = snap.phase;
    if (frozen) state = `frozen since ${frozen.since} (${ago(frozen.since, now)}), msgid ${frozen.msgid}; watchdog thaw at ${frozen.watchdogAt}`;
    if (snap.current) state += ` (${snap.current.op}, msgid ${snap.current.msgid}, since ${snap.current.since})`;
    row('state', state);
  } else if (daemon.running) {
    row('daemon', `pid ${daemon.pid} is running but not answering (${daemon.error}): not registered on the device`);
  } else {
    row('daemon', `not running (${daemon.error})`);
  }
  row('fs daemon', `${report.fsDaemon.name} ${report.fsDaemon.meaning}`);
  const fs = report.fs;
  if ('error' in fs) {
    row('fs', fs.error);
  } else {
    if (!fs.fsRole) row('', fs.fsDaemon.text);
    row('fs plan', `${fs.fsRole ? 'followed by the daemon (fs role)' : 'if hvvss took the fs role'}: ${fs.summary}`);
    if (fs.plan.policyFile) row('fs policy', fs.plan.policyFile);
    for (const line of planLines(fs.plan)) lines.push(line);
  }
  const freeze = report.freeze;
  if (!freeze) {
    row('freeze', `none${report.lastThaw ? ` (last thaw at ${report.lastThaw.at}, ${report.lastThaw.reason}${report.lastThaw.ok ? '' : ', FAILED'})` : ''}`);
  } else {
    const who =
      freeze.holder.kind === 'daemon'
        ? freeze.reason === 'manual'
          ? `manual freeze (hvvss freeze) held by the daemon (pid ${freeze.holder.pid}); "hvvss thaw" ends it`
          : `host backup held by the daemon (pid ${freeze.holder.pid})`
        : freeze.command
          ? `manual, hvvss freeze -- ${freeze.command} (pid ${freeze.holder.pid})`
          : `manual, hvvss freeze kept by pid ${freeze.holder.pid}`;
    const state = freeze.abandoned ? 'HOLDER GONE' : freeze.thawsBy ? `thaws by ${freeze.thawsBy}` : 'holder alive';
    row('freeze', `${who}, since ${freeze.since} (${ago(freeze.since, now)}); ${state}`);
    const residents = new Map((freeze.keeper?.hooks ?? []).map((h) => [h.name, h]));
    const hooks = freeze.hooks.map((name) => {
      const r = residents.get(name);
      return r?.resident ? `${name} (resident pid ${r.pid}, ${r.alive ? 'alive' : 'DEAD: broken freeze'})` : name;
    });
    row('', `frozen hooks, in freeze order: ${hooks.join(', ')}`);
    if (freeze.mounts) row('', `frozen file systems, in freeze order: ${freeze.mounts.join(', ')}`);
  }
  const runnable = report.hooks.entries.filter((e) => e.verdict === 'runnable').length;
  row('hooks', `${report.hooks.dir}: ${runnable} runnable of ${report.hooks.entries.length}${report.hooks.problem ? `; ${report.hooks.problem}` : ''}`);
  const width = Math.max(0, ...report.hooks.entries.map((e) => e.name.length));
  for (const entry of report.hooks.entries) {
    lines.push(`  ${entry.name.padEnd(width)}  ${entry.verdict}${entry.why ? `: ${entry.why}` : ''}`);
  }
  if (report.transactions.length > 0) {
    lines.push('last transactions, newest first:');
    for (const t of report.transactions.slice(0, 10)) {
      const hooks = t.hooks.map((h) => `${h.hook} ${h.ok ? '' : 'FAILED '}${Math.round(h.durationMs)} ms`).join(', ');
      const answer = t.answer ? `, answered ${t.answer.status} in ${t.answer.elapsedMs} ms${t.answer.late ? ' LATE' : ''}` : '';
      const problems = t.problems.length > 0 ? `; ${t.problems.join('; ')}` : '';
      const op = opOf(t);
      lines.push(`  ${t.startedAt}  ${op.padEnd(6)} msgid ${(t.msgid || '-').padEnd(6)} ${t.result.padEnd(7)} ${t.reason.padEnd(8)} ${t.durationMs} ms${answer}${hooks ? ` [${hooks}]` : ''}${problems}`);
      for (const m of t.mounts ?? []) lines.push(`    ${mountLine(m)}`);
    }
  }
  for (const problem of report.problems) lines.push(`problem:   ${problem}`);
  return lines.join('\n') + '\n';
}

/** Label values escaped as the exposition format wants. */
const label = (value: string): string => value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');

export function renderPrometheus(report: StatusReport): string {
  const out: string[] = [];
  const metric = (name: string, type: 'gauge' | 'counter', help: string, samples: Array<[Record<string, string>, number]>) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const text = Object.entries(labels).map(([k, v]) => `${k}="${label(v)}"`).join(',');
      out.push(`${name}${text ? `{${text}}` : ''} ${Number.isFinite(value) ? value : 0}`);
    }
  };
  const now = Date.parse(report.checkedAt);
  const snap = report.daemon.snapshot;
  metric('hvvss_status_code', 'gauge', 'Exit status of hvvss status: 0 healthy, 1 daemon not running, 2 frozen too long, 3 unknown.', [[{}, report.exitCode]]);
  metric('hvvss_up', 'gauge', 'The daemon answers on its status socket.', [[{}, report.daemon.answering ? 1 : 0]]);
  metric('hvvss_registered', 'gauge', 'The daemon is registered on the application VSS device.', [[{}, snap?.registered ? 1 : 0]]);
  metric('hvvss_uptime_seconds', 'gauge', 'Seconds since the daemon started.', [[{}, snap ? snap.uptimeMs / 1000 : 0]]);
  const fsRunning = report.fsDaemon.running;
  metric('hvvss_fs_daemon_up', 'gauge', 'hv_vss_daemon(8), the file-system half of a backup, runs (no sample: could not tell).', fsRunning === undefined ? [] : [[{}, fsRunning ? 1 : 0]]);
  const freeze = report.freeze;
  metric('hvvss_frozen', 'gauge', 'Hooks are frozen, by holder kind.', [
    [{ holder: 'daemon' }, freeze?.holder.kind === 'daemon' ? 1 : 0],
    [{ holder: 'manual' }, freeze?.holder.kind === 'manual' ? 1 : 0],
  ]);
  metric('hvvss_frozen_seconds', 'gauge', 'Seconds since the current freeze began (0 when nothing is frozen).', [[{}, freeze ? (now - Date.parse(freeze.since)) / 1000 : 0]]);
  const verdicts = ['runnable', 'skipped', 'refused'] as const;
  metric('hvvss_hooks', 'gauge', 'Entries of the hooks directory by verdict.', verdicts.map((v) => [{ verdict: v }, report.hooks.entries.filter((e) => e.verdict === v).length]));
  metric('hvvss_transactions_total', 'counter', 'Transactions since the daemon started, by op, reason (host, watchdog, rollback, ...) and result.',
    (snap?.counters ?? []).map((c) => [{ op: c.op, reason: c.reason, result: c.result }, c.count]));
  metric('hvvss_late_answers_total', 'counter', "Answers that left after the kernel's limit (ignored by the kernel) since the daemon started.", [[{}, snap?.lateAnswers ?? 0]]);
  // The daemon keeps its last 20 transactions: these count those, newest first.
  const counts = new Map<string, { op: string; result: string; n: number }>();
  for (const t of report.transactions) {
    const key = `${opOf(t)}\0${t.result}`;
    const entry = counts.get(key) ?? { op: opOf(t), result: t.result, n: 0 };
    entry.n += 1;
    counts.set(key, entry);
  }
  metric('hvvss_recent_transactions', 'gauge', 'Transactions among the last ones the daemon keeps (up to 20), by op and result.', [...counts.values()].map((c) => [{ op: c.op, result: c.result }, c.n]));
  const lastByOp = new Map<string, (typeof report.transactions)[number]>();
  for (const t of report.transactions) if (!lastByOp.has(opOf(t))) lastByOp.set(opOf(t), t);
  metric('hvvss_last_transaction_seconds', 'gauge', 'Duration of the last transaction of each op.', [...lastByOp.values()].map((t) => [{ op: opOf(t), result: t.result }, t.durationMs / 1000]));
  metric('hvvss_last_transaction_timestamp_seconds', 'gauge', 'Start of the last transaction of each op (Unix time).', [...lastByOp.values()].map((t) => [{ op: opOf(t) }, Date.parse(t.startedAt) / 1000]));
  const hookSamples: Array<[Record<string, string>, number]> = [];
  for (const t of lastByOp.values()) for (const h of t.hooks) hookSamples.push([{ hook: h.hook, op: h.op, ok: String(h.ok) }, h.durationMs / 1000]);
  metric('hvvss_last_hook_seconds', 'gauge', 'Duration of each hook in the last transaction of each op.', hookSamples);
  // The fs stage: the last transaction of each op that acted on file systems (fs device or application device).
  const lastMounts = new Map<string, (typeof report.transactions)[number]>();
  for (const t of report.transactions) if (t.mounts && t.mounts.length > 0 && !lastMounts.has(opOf(t))) lastMounts.set(opOf(t), t);
  const mountSamples: Array<[Record<string, string>, number]> = [];
  for (const t of lastMounts.values()) {
    for (const m of t.mounts ?? []) mountSamples.push([{ mountpoint: m.mountpoint, fstype: m.fstype, action: m.action, op: m.op, ok: String(m.ok) }, m.durationMs / 1000]);
  }
  metric('hvvss_last_mount_seconds', 'gauge', 'Duration of each file system\'s freeze or thaw in the last transaction of each op that acted on file systems (the fs role).', mountSamples);
  return out.join('\n') + '\n';
}
