// hvvss status: the state of the daemon, of any freeze and of the hooks, gathered without
// writing anything (it must answer while file systems are frozen for a backup) and quickly
// (it backs an rc.d "status" and a monitoring check): the daemon's snapshot from its status
// socket, the pidfile, the freeze journal and the lock holder's description, a freeze keeper's
// snapshot from its socket, and a scan of the hooks directory. Nothing here loads the hooks
// runner or the native bindings, and nothing takes the hooks lock.
import { readTextAsync } from '../util/fs-async.ts';
import { createConnection } from 'node:net';
import { FreezeJournal, type FrozenRecord } from '../state/freeze-journal.ts';
import { pidAlive, readHolder, type LockHolder } from '../state/lock-holder.ts';
import { hooksLockIn, journalIn, keeperSocketIn } from '../state/paths.ts';
import type { AgentStatus } from '../daemon/vss-agent.ts';
import { scanHooks } from '../hooks/hook-scan.ts';
import type { HookVerdict } from '../hooks/types.ts';
import { keeperStatus } from '../manual/keeper-connection.ts';
import type { KeeperStatus } from '../manual/keeper.ts';
import { fsDaemonRunning, fsDaemonState, type FsDaemonState } from './fs-daemon.ts';
import { diagnoseFs, type FsDiagnosis } from '../fs/diagnosis.ts';
import type { FsPolicy } from '../fs/mount-plan.ts';

/**
 * Exit statuses of "hvvss status", most urgent first when several apply:
 * 2 frozen too long, 1 daemon not running, 3 unknown, 0 healthy.
 */
export const STATUS_EXIT = { healthy: 0, daemonNotRunning: 1, frozenTooLong: 2, unknown: 3 } as const;

export type Health = keyof typeof STATUS_EXIT;

/** A freeze still frozen this long after its holder's own thaw time counts as frozen too long. */
export const OVERDUE_GRACE_MS = 2_000;
/** How long each socket gets to answer. */
const SOCKET_TIMEOUT_MS = 500;

/** What the daemon serves on its status socket (see commands/daemon.ts). */
export interface DaemonSnapshot extends AgentStatus {
  readonly pid: number;
  readonly startedAt: string;
  readonly uptimeMs: number;
  readonly device: string;
  readonly registered: boolean;
  /** The devices the daemon is registered on: the application device, and the fs device with the fs role on its channel. */
  readonly devices?: readonly { readonly role: 'application' | 'fs'; readonly path: string }[];
  readonly hooksDir: string;
  readonly settings?: { readonly kernelTimeoutMs: number; readonly requestTimeoutMs: number; readonly hookTimeoutMs: number; readonly maxFrozenMs: number };
  /** Present when the daemon runs with the fs role: the policy its mount plan follows. */
  readonly fsRole?: { readonly policy: FsPolicy };
}

export interface DaemonState {
  readonly socket: string;
  readonly pidfile: string;
  /** A live process owns the pidfile's pid. */
  readonly running: boolean;
  readonly pid?: number;
  /** It answered on its status socket (it does once registered on the device). */
  readonly answering: boolean;
  readonly snapshot?: DaemonSnapshot;
  /** Why it did not answer, when running. */
  readonly error?: string;
}

export interface FreezeState {
  readonly holder: { readonly kind: 'daemon' | 'manual'; readonly pid: number; readonly alive: boolean };
  /** host for a host backup; manual for hvvss freeze (held by the daemon or by a keeper). */
  readonly reason: string;
  readonly since: string;
  readonly hooks: readonly string[];
  /** File systems the fs role may hold frozen (mount points), from the journal. */
  readonly mounts?: readonly string[];
  readonly hooksDir: string;
  /** When its holder thaws it by itself (daemon watchdog, keeper or command --max-frozen). */
  readonly thawsBy?: string;
  /** hvvss freeze -- CMD: the command running while frozen. */
  readonly command?: string;
  readonly keeper?: KeeperStatus;
  /** Recorded, but its holder is gone: nobody will thaw it on their own. */
  readonly abandoned: boolean;
}

export interface StatusReport {
  readonly checkedAt: string;
  readonly health: Health;
  readonly exitCode: number;
  /** What is wrong and what to do, one sentence each. */
  readonly problems: readonly string[];
  readonly daemon: DaemonState;
  /** hv_vss_daemon(8): reported, not part of the health (it is not hvvss's to run). */
  readonly fsDaemon: FsDaemonState;
  /**
   * The file systems: what hv_vss_daemon does with this guest's mounts, and the fs role's plan
   * (the daemon's policy when it runs with the fs role, else the command's --fs-* flags).
   */
  readonly fs: (FsDiagnosis | { readonly error: string }) & { readonly fsRole: boolean };
  readonly freeze?: FreezeState;
  readonly lastThaw?: { readonly at: string; readonly reason: string; readonly ok: boolean };
  readonly hooks: {
    readonly dir: string;
    readonly problem?: string;
    readonly entries: ReadonlyArray<{ readonly name: string; readonly verdict: HookVerdict; readonly why?: string }>;
  };
  readonly transactions: DaemonSnapshot['transactions'];
}

export interface StatusInput {
  readonly socket: string;
  readonly pidfile: string;
  readonly stateDir: string;
  /** Used when the daemon does not say which directory it uses. */
  readonly hooksDir: string;
  /** The plan's policy when the daemon does not run with the fs role (an Error: its policy file is unusable). */
  readonly fsPolicy?: FsPolicy | Error;
  readonly now?: Date;
}

/** One JSON document from a socket that sends it and closes (the daemon's status socket). */
function readSocketDocument(path: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write('{"cmd":"status"}\n'));
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new Error('not a JSON document'));
      }
    });
  });
}

async function readPid(pidfile: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readTextAsync(pidfile)).trim(), 10);
    return Number.isFinite(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function daemonState(socket: string, pidfile: string): Promise<DaemonState & { denied?: boolean }> {
  const [pid, answer] = await Promise.all([
    readPid(pidfile),
    readSocketDocument(socket, SOCKET_TIMEOUT_MS).then(
      (doc) => ({ doc: doc as DaemonSnapshot }),
      (err: NodeJS.ErrnoException) => ({ err }),
    ),
  ]);
  if ('doc' in answer) return { socket, pidfile, running: true, pid: answer.doc.pid, answering: true, snapshot: answer.doc };
  const running = pid !== undefined && pidAlive(pid);
  const code = answer.err.code;
  const denied = code === 'EACCES' || code === 'EPERM';
  const why =
    code === 'ENOENT' || code === 'ECONNREFUSED'
      ? `nothing listens on ${socket}`
      : denied
        ? `permission denied on ${socket}`
        : `${socket}: ${answer.err.message}`;
  return { socket, pidfile, running, ...(pid === undefined ? {} : { pid }), answering: false, error: why, ...(denied ? { denied } : {}) };
}

async function lastThawOf(path: string): Promise<StatusReport['lastThaw']> {
  try {
    const data = JSON.parse(await readTextAsync(path)) as { frozen?: boolean; lastThaw?: { at: string; reason: string; ok: boolean } };
    return data.frozen === false && data.lastThaw?.at ? data.lastThaw : undefined;
  } catch {
    return undefined;
  }
}

async function freezeState(record: FrozenRecord, daemon: DaemonState, lockHolder: LockHolder | undefined, stateDir: string): Promise<FreezeState> {
  const base = {
    since: record.since,
    reason: record.reason,
    hooks: record.hooks.map((h) => h.name),
    ...(record.mounts && record.mounts.length > 0 ? { mounts: record.mounts.map((m) => m.mountpoint) } : {}),
    hooksDir: record.hooksDir,
  };
  if (record.holder.kind === 'daemon') {
    const snapshot = daemon.snapshot;
    const ours = snapshot !== undefined && snapshot.pid === record.holder.pid;
    const alive = ours || pidAlive(record.holder.pid);
    // A daemon that does not answer (stopped, stuck) still wrote its watchdog time in the journal's intent.
    const thawsBy = ours ? snapshot.frozen?.watchdogAt : (record.watchdogAt ?? (lockHolder?.pid === record.holder.pid ? lockHolder.thawsBy : undefined));
    return { ...base, holder: { kind: 'daemon', pid: record.holder.pid, alive }, ...(thawsBy ? { thawsBy } : {}), abandoned: !alive };
  }
  const described = lockHolder?.pid === record.holder.pid ? lockHolder : undefined;
  const socket = described?.keeper ?? keeperSocketIn(stateDir);
  const keeper = await keeperStatus(socket, SOCKET_TIMEOUT_MS).catch(() => undefined);
  // A keeper is alive when it answers; hvvss freeze -- CMD has no socket, only its pid.
  const alive = keeper !== undefined ? keeper.pid === record.holder.pid : described?.command !== undefined && pidAlive(record.holder.pid);
  const thawsBy = keeper?.autoThawAt ?? described?.thawsBy;
  return {
    ...base,
    holder: { kind: 'manual', pid: record.holder.pid, alive },
    ...(thawsBy ? { thawsBy } : {}),
    ...(described?.command ? { command: described.command } : {}),
    ...(keeper ? { keeper } : {}),
    abandoned: !alive,
  };
}

export async function gatherStatus(input: StatusInput): Promise<StatusReport> {
  const now = input.now ?? new Date();
  const journal = new FreezeJournal(journalIn(input.stateDir));
  const [daemon, journalRead, lockHolder, fsRunning] = await Promise.all([
    daemonState(input.socket, input.pidfile),
    Promise.resolve().then(() => journal.read()).then(
      (record) => ({ record }),
      (err: Error) => ({ error: err.message }),
    ),
    Promise.resolve(readHolder(hooksLockIn(input.stateDir))),
    fsDaemonRunning(),
  ]);
  const problems: string[] = [];
  const health = new Set<Health>();

  const record = 'record' in journalRead ? journalRead.record : undefined;
  if ('error' in journalRead) {
    problems.push(`cannot read the freeze journal: ${journalRead.error}`);
    health.add('unknown');
  }
  const freeze = record ? await freezeState(record, daemon, lockHolder, input.stateDir) : undefined;
  const lastThaw = record ? undefined : await lastThawOf(journal.path);

  const hooksDir = daemon.snapshot?.hooksDir ?? input.hooksDir;
  const fsRole = daemon.snapshot?.fsRole;
  const [scan, fs] = await Promise.all([
    scanHooks(hooksDir, { trustedUids: [...new Set([0, process.getuid?.() ?? 0])] }),
    diagnoseFs(fsRole?.policy ?? input.fsPolicy ?? {}, record?.mounts?.filter((m) => m.action === 'remount-ro').map((m) => m.mountpoint)),
  ]);
  if (!('error' in fs) && fs.fsDaemon.refusesEveryBackup && !fsRole && fsRunning !== false) {
    // Not hvvss's health, but the reason the host's backups fail: said where the admin looks.
    problems.push(`${fs.fsDaemon.text} ("hvvss check --dry-run" shows the plan)`);
  }

  if (freeze?.abandoned) {
    health.add('frozenTooLong');
    problems.push(
      `${plural(freeze.hooks.length, 'hook')} recorded as frozen since ${freeze.since} by ${freeze.holder.kind} pid ${freeze.holder.pid}, which is gone${freeze.holder.kind === 'manual' ? ' (its keeper does not answer)' : ''}: ` +
        `run "hvvss thaw" (${daemon.answering ? 'the daemon also thaws it before its next host request' : 'or start the daemon, which thaws it first'})`,
    );
  } else if (freeze?.thawsBy && now.getTime() > Date.parse(freeze.thawsBy) + OVERDUE_GRACE_MS) {
    health.add('frozenTooLong');
    problems.push(
      `frozen since ${freeze.since}, past its automatic thaw at ${freeze.thawsBy}: ${freeze.holder.kind} pid ${freeze.holder.pid} has not thawed; ` +
        (freeze.holder.kind === 'daemon' ? 'restart the daemon ("service hvvss restart"), which thaws' : 'run "hvvss thaw"'),
    );
  }
  const daemonFrozen = daemon.snapshot?.frozen;
  if (!freeze && daemonFrozen && now.getTime() > Date.parse(daemonFrozen.watchdogAt) + OVERDUE_GRACE_MS) {
    health.add('frozenTooLong');
    problems.push(`the daemon has been frozen since ${daemonFrozen.since}, past its watchdog at ${daemonFrozen.watchdogAt}: restart it ("service hvvss restart"), which thaws`);
  }
  if (!daemon.answering) {
    if ((daemon as { denied?: boolean }).denied) {
      health.add('unknown');
      problems.push(`cannot ask the daemon: ${daemon.error}; run hvvss status as root`);
    } else if (daemon.running) {
      health.add('daemonNotRunning');
      problems.push(`the daemon (pid ${daemon.pid}) runs but does not answer (${daemon.error}): it is starting (thawing a recorded freeze first) or stuck; if this lasts, restart it`);
    } else {
      health.add('daemonNotRunning');
      problems.push(`the daemon is not running (${daemon.error}): start it ("service hvvss start")`);
    }
  }
  const order: Health[] = ['frozenTooLong', 'daemonNotRunning', 'unknown'];
  const worst = order.find((h) => health.has(h)) ?? 'healthy';
  const { denied: _denied, ...daemonOut } = daemon as DaemonState & { denied?: boolean };
  return {
    checkedAt: now.toISOString(),
    health: worst,
    exitCode: STATUS_EXIT[worst],
    problems,
    daemon: daemonOut,
    fsDaemon: fsDaemonState(fsRunning, daemon.answering),
    fs: { ...fs, fsRole: fsRole !== undefined },
    ...(freeze ? { freeze } : {}),
    ...(lastThaw ? { lastThaw } : {}),
    hooks: {
      dir: scan.dir,
      ...(scan.problem ? { problem: scan.problem.message } : {}),
      entries: scan.entries.map((e) => ({ name: e.name, verdict: e.verdict, ...(e.why ? { why: e.why } : {}) })),
    },
    transactions: daemon.snapshot?.transactions ?? [],
  };
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
