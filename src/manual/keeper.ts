// The keeper of a manual freeze: a small detached process that does "hvvss freeze" (without a
// command) and then holds it, so that the freeze outlives the command line.
//
// Why a separate process: a resident freeze hook (e.g. a database session holding a global
// read lock) lets go as soon as its parent's end of its stdin pipe closes, so whoever started
// the freeze must stay alive until the thaw. The keeper is that parent. It:
//  - takes the hooks lock (the daemon and other manual runs are refused while it holds it) and
//    runs the freeze itself, streaming every step to the waiting "hvvss freeze" over IPC;
//  - on success records the freeze in the journal with itself as the holder, listens on a
//    root-only Unix socket (keeperSocketIn(stateDir)), reports "frozen" and lets the command
//    line exit;
//  - thaws exactly once, in reverse order, on the first of: a "thaw" request on its socket
//    ("hvvss thaw", which sees the thaw's events as they happen), --max-frozen elapsing (the
//    automatic thaw, HVVSS_REASON=watchdog, so a forgotten freeze cannot last), or SIGTERM,
//    SIGINT or SIGHUP (reason shutdown);
//  - then clears the journal, releases the lock and exits.
// Should the keeper die without thawing (SIGKILL, OOM), its residents let go with it, its
// lock is freed by the kernel and the journal still names it: "hvvss thaw", a starting daemon
// or the daemon's next host request thaws from the journal.
//
// The command line aborts the freeze (Ctrl-C, or the command line going away before the freeze
// was reported) and the keeper rolls back what it had frozen: a freeze nobody saw succeed must
// not stay behind.
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { HookReason } from '../hooks/index.ts';
import type { LockHolder } from '../state/hooks-lock.ts';
import { keeperSocketIn } from '../state/paths.ts';
import type { HoldingLogger } from '../log/logger.ts';
import { plural, type FrozenInfo, type RunEvent, type StepReport } from './report.ts';
import { ManualSession, type ManualSettings } from './session.ts';
import { listenOwnerOnly } from '../util/unix-listen.ts';

export type ToKeeper = { readonly type: 'start'; readonly settings: ManualSettings } | { readonly type: 'abort'; readonly why: string };

export type FromKeeper =
  | { readonly type: 'event'; readonly event: RunEvent }
  | {
      readonly type: 'done';
      readonly ok: boolean;
      readonly steps: readonly StepReport[];
      readonly frozen?: FrozenInfo;
      readonly problem?: string;
      readonly refused?: { readonly message: string; readonly busy: boolean; readonly holder?: LockHolder };
    };

/** The IPC channel to the "hvvss freeze" that started the keeper (process.send & co in keeper-main.ts). */
export interface KeeperChannel {
  /** Resolves once the message has been handed to the channel (before a disconnect or exit). */
  send(message: FromKeeper): Promise<void>;
  onMessage(listener: (message: ToKeeper) => void): void;
  onDisconnect(listener: () => void): void;
  disconnect(): void;
}

/** Requests on the keeper's socket, one JSON line per connection. */
export type KeeperRequest = { readonly cmd: 'thaw'; readonly timeoutMs?: number } | { readonly cmd: 'status' };

export interface KeeperThawResult {
  readonly ok: boolean;
  readonly reason: HookReason;
  /** What triggered the thaw: "hvvss thaw", "--max-frozen 60 s", "SIGTERM". */
  readonly by: string;
  readonly step: StepReport;
}

export interface KeeperStatus {
  readonly pid: number;
  readonly phase: 'frozen' | 'thawing';
  readonly since: string;
  readonly autoThawAt: string;
  readonly hooksDir: string;
  readonly hooks: ReadonlyArray<{ readonly name: string; readonly resident: boolean; readonly pid?: number; readonly alive?: boolean; readonly brokenFreeze?: boolean }>;
}

/** Replies on the keeper's socket, one JSON object per line. */
export type KeeperReply = { readonly event: RunEvent } | { readonly result: KeeperThawResult } | { readonly status: KeeperStatus } | { readonly error: string };

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

function send(socket: Socket, reply: KeeperReply): void {
  if (!socket.destroyed) socket.write(JSON.stringify(reply) + '\n');
}

async function listen(path: string, onConnection: (socket: Socket) => void): Promise<Server> {
  // We hold the hooks lock: a socket file left here is a dead keeper's.
  rmSync(path, { force: true });
  const server = createServer(onConnection);
  await listenOwnerOnly(server, path);
  return server;
}

/** Runs the keeper until its freeze failed or has been thawed. */
export async function runKeeper(settings: ManualSettings, channel: KeeperChannel, log: HoldingLogger): Promise<void> {
  const thawClients = new Set<Socket>();
  let cliAttached = true;
  const emit = (event: RunEvent): void => {
    if (cliAttached) channel.send({ type: 'event', event }).catch(() => (cliAttached = false));
    for (const client of thawClients) send(client, { event });
  };
  const session = new ManualSession(settings, { emit, log });
  const socketPath = keeperSocketIn(settings.stateDir);
  const finish = async (message: FromKeeper & { type: 'done' }) => {
    if (cliAttached) await channel.send(message).catch(() => {});
    cliAttached = false;
    channel.disconnect();
  };

  const claimed = session.claim({ op: 'freeze' });
  if (!claimed.ok) {
    const { message, busy, holder } = claimed;
    await finish({ type: 'done', ok: false, steps: [], refused: holder ? { message, busy, holder } : { message, busy } });
    return;
  }

  let phase: KeeperStatus['phase'] | 'freezing' = 'freezing';
  let thawing: Promise<KeeperThawResult> | undefined;
  let thawed!: (result: KeeperThawResult) => void;
  const done = new Promise<KeeperThawResult>((resolve) => (thawed = resolve));
  const thawOnce = (reason: HookReason, by: string, timeoutMs?: number): Promise<KeeperThawResult> => {
    if (thawing) return thawing;
    thawing = (async () => {
      phase = 'thawing';
      const frozen = session.engine.frozen;
      const line = `manual freeze of ${plural(frozen?.hooks.length ?? 0, 'hook')} (since ${frozen?.since.toISOString() ?? '-'}): thawing (${reason}, by ${by})`;
      if (reason === 'manual') log.info(line);
      else log.warn(line);
      const step = await session.thaw(reason, timeoutMs);
      log.info(`manual freeze thawed: ${step.ok ? 'success' : 'FAILED'}`);
      return { ok: step.ok, reason, by, step };
    })();
    void thawing.then(thawed);
    return thawing;
  };

  // A bug of ours must not leave anything frozen: thaw, then exit non-zero.
  process.on('uncaughtException', (err) => {
    log.error(`hvvss freeze keeper (pid ${process.pid}) crashed: ${err.stack ?? err.message}; thawing first`);
    const exit = () => process.exit(70);
    const problem = `the freeze keeper crashed: ${err.message}; what it had frozen was thawed (see syslog)`;
    void thawOnce('shutdown', 'a crash of the keeper').then(
      () => finish({ type: 'done', ok: false, steps: [], problem }).then(exit, exit),
      exit,
    );
  });

  const status = (): KeeperStatus => {
    const frozen = session.engine.frozen;
    return {
      pid: process.pid,
      phase: phase === 'freezing' ? 'frozen' : phase,
      since: frozen?.since.toISOString() ?? new Date().toISOString(),
      autoThawAt: (frozen?.watchdogAt ?? new Date(Date.now() + settings.maxFrozenMs)).toISOString(),
      hooksDir: session.hooks.dir,
      hooks: (frozen?.hooks ?? []).map((f) =>
        f.resident
          ? { name: f.hook.name, resident: true, pid: f.resident.pid, alive: f.resident.alive, brokenFreeze: f.resident.brokenFreeze !== undefined }
          : { name: f.hook.name, resident: false },
      ),
    };
  };

  const onConnection = (socket: Socket): void => {
    socket.setEncoding('utf8');
    socket.on('error', () => {
      thawClients.delete(socket);
      socket.destroy();
    });
    let input = '';
    socket.on('data', (chunk: string) => {
      input += chunk;
      const newline = input.indexOf('\n');
      if (newline === -1) return;
      let request: KeeperRequest;
      try {
        request = JSON.parse(input.slice(0, newline)) as KeeperRequest;
      } catch {
        socket.end(JSON.stringify({ error: 'not a JSON request line' }) + '\n');
        return;
      }
      input = '';
      if (phase === 'freezing') {
        socket.end(JSON.stringify({ error: 'the freeze is still under way; try again once it is reported' }) + '\n');
      } else if (request.cmd === 'status') {
        socket.end(JSON.stringify({ status: status() }) + '\n');
      } else if (request.cmd === 'thaw') {
        thawClients.add(socket);
        void thawOnce('manual', 'hvvss thaw', request.timeoutMs);
      } else {
        socket.end(JSON.stringify({ error: `unknown request ${JSON.stringify((request as { cmd?: unknown }).cmd)}` }) + '\n');
      }
    });
  };

  // The socket exists before anything is frozen: creating it is a write to the state directory.
  let server: Server;
  try {
    server = await listen(socketPath, onConnection);
  } catch (err) {
    session.lock.release();
    await finish({ type: 'done', ok: false, steps: [], problem: `cannot listen on ${socketPath} (${(err as Error).message}), so "hvvss thaw" could not reach a freeze: nothing was frozen` });
    return;
  }
  const closeServer = () => {
    server.close();
    rmSync(socketPath, { force: true });
  };

  const abort = new AbortController();
  channel.onMessage((message) => {
    if (message.type === 'abort') abort.abort(message.why);
  });
  channel.onDisconnect(() => {
    cliAttached = false;
    abort.abort('the hvvss freeze command went away before the freeze was reported');
  });
  const abortOnSignal = (signal: NodeJS.Signals) => abort.abort(signal);
  for (const signal of SIGNALS) process.on(signal, abortOnSignal);

  let outcome;
  try {
    outcome = await session.freeze(abort.signal, { keeper: socketPath }, {
      ms: settings.maxFrozenMs,
      onWatchdog: () => void thawOnce('watchdog', `--max-frozen ${settings.maxFrozenMs / 1000} s`),
    });
  } finally {
    for (const signal of SIGNALS) process.off(signal, abortOnSignal);
  }
  if (!outcome.frozen) {
    closeServer();
    session.lock.release();
    const { problem } = outcome;
    await finish({ type: 'done', ok: false, steps: outcome.steps, ...(problem === undefined ? {} : { problem }) });
    return;
  }
  const frozen = outcome.frozen;
  const steps = [...outcome.steps];
  phase = 'frozen';

  // The command line went away or was interrupted right as the freeze succeeded: nobody knows
  // it is frozen, so do not stay frozen.
  if (abort.signal.aborted) {
    const rollback = await session.thaw('rollback');
    closeServer();
    session.lock.release();
    await finish({ type: 'done', ok: false, steps: [...steps, rollback], problem: `interrupted (${String(abort.signal.reason)}): rolled back` });
    return;
  }
  const thawOnSignal = (signal: NodeJS.Signals) => void thawOnce('shutdown', signal);
  for (const signal of SIGNALS) process.on(signal, thawOnSignal);
  const autoThawAt = session.engine.frozen?.watchdogAt ?? new Date(frozen.since.getTime() + settings.maxFrozenMs);
  log.info(`manual freeze of ${plural(frozen.hooks.length, 'hook')} held by pid ${process.pid}; automatic thaw at ${autoThawAt.toISOString()}`);
  await finish({
    type: 'done',
    ok: true,
    steps,
    frozen: { pid: process.pid, since: frozen.since.toISOString(), autoThawAt: autoThawAt.toISOString(), hooks: frozen.hooks.map((f) => f.hook.name) },
  });
  if (!session.engine.frozen) {
    // Nothing was frozen (no hooks): nothing to hold.
    void thawOnce('manual', 'nothing to hold');
  }

  const result = await done;
  // From here nobody can ask again: the journal says thawed before the socket goes away.
  closeServer();
  session.lock.release();
  await Promise.all(
    [...thawClients].map(
      (client) =>
        new Promise<void>((resolve) => {
          if (client.destroyed) return resolve();
          client.end(JSON.stringify({ result }) + '\n', () => resolve());
          client.once('close', () => resolve());
        }),
    ),
  );
  for (const signal of SIGNALS) process.off(signal, thawOnSignal);
}
