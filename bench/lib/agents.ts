// Starting and stopping the three kinds of application agent against the emulator: the C
// responder, `hvvss simulate --wait 0` and `hvvss daemon`. Each start waits until the kernel
// has the agent registered; each stop waits until the kernel has let go of the device, so the
// next agent's open never meets EBUSY.
import { DAEMON_NODE_FLAGS } from '../../src/state/paths.ts';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WatchedProcess } from '../../test/support/process.ts';
import type { HostResult } from '../../src/emulator/vss-kernel.ts';
import type { BenchContext } from './context.ts';

export type AgentKind = 'c' | 'simulate' | 'daemon';

export const AGENT_LABEL: Record<AgentKind, string> = {
  c: '(a) C responder',
  simulate: '(b) hvvss simulate --wait 0',
  daemon: '(c) hvvss daemon, empty hooks dir',
};

export interface Agent {
  readonly kind: AgentKind;
  readonly pid: number;
  readonly proc: WatchedProcess;
  /** The daemon's scratch root (run/, state/), for the journal. */
  readonly root?: string;
  stop(): Promise<void>;
}

export interface DaemonOptions {
  readonly hooksDir: string;
  /** Where run/ (pidfile, socket) and state/ (journal) go. */
  readonly root: string;
  readonly timeoutS?: number;
  readonly hookTimeoutS?: number;
  readonly killGraceS?: number;
  readonly extra?: readonly string[];
  /** Options for node itself, before bin/run.cjs (e.g. V8 heap limits, for a diagnosis). */
  readonly nodeFlags?: readonly string[];
}

async function waitForApp(ctx: BenchContext, registered: boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if ((await ctx.emu.host.state()).app === registered) return;
    await sleep(5);
  }
  throw new Error(`${what}: the emulated kernel still has the app device ${registered ? 'unregistered' : 'registered'} after 2 s`);
}

async function start(ctx: BenchContext, kind: AgentKind, command: string, args: readonly string[], root?: string): Promise<Agent> {
  const proc = new WatchedProcess(command, args);
  const what = `${AGENT_LABEL[kind]} (${[command, ...args].join(' ')})`;
  await proc.waitForLine(/registered on /, 20_000).catch((err: unknown) => {
    proc.child.kill('SIGKILL');
    throw err;
  });
  await waitForApp(ctx, true, what);
  const pid = proc.child.pid;
  if (pid === undefined) throw new Error(`${what}: no pid`);
  return {
    kind,
    pid,
    proc,
    ...(root ? { root } : {}),
    async stop() {
      const exit = await proc.stop('SIGTERM');
      if (exit.code !== 0 && exit.signal !== 'SIGTERM') throw new Error(`${what} exited with ${exit.code ?? exit.signal}:\n${proc.output.slice(-2000)}`);
      await waitForApp(ctx, false, what);
    },
  };
}

export function startResponder(ctx: BenchContext): Promise<Agent> {
  return start(ctx, 'c', ctx.responder, [ctx.emu.appDevice]);
}

export function startSimulate(ctx: BenchContext): Promise<Agent> {
  return start(ctx, 'simulate', process.execPath, [
    ctx.hvvssBin, 'simulate', '-n', '--wait', '0', '--device', ctx.emu.appDevice, '--kernel-timeout', String(ctx.kernelTimeoutS),
  ]);
}

export function daemonArgs(ctx: BenchContext, options: DaemonOptions): string[] {
  mkdirSync(join(options.root, 'run'), { recursive: true, mode: 0o755 });
  return [
    ctx.hvvssBin, 'daemon', '-n',
    '--device', ctx.emu.appDevice,
    '--hooks-dir', options.hooksDir,
    '--pidfile', join(options.root, 'run', 'hvvss.pid'),
    '--socket', join(options.root, 'run', 'hvvss.sock'),
    '--state-dir', join(options.root, 'state'),
    '--kernel-timeout', String(ctx.kernelTimeoutS),
    '--timeout', String(options.timeoutS ?? ctx.kernelTimeoutS - 1),
    '--hook-timeout', String(options.hookTimeoutS ?? 1),
    '--kill-grace', String(options.killGraceS ?? 0.2),
    ...(options.extra ?? []),
  ];
}

export function startDaemon(ctx: BenchContext, options: DaemonOptions): Promise<Agent> {
  // As shipped: with the Node options the detached daemon and rc.d use, unless told otherwise.
  return start(ctx, 'daemon', process.execPath, [...(options.nodeFlags ?? DAEMON_NODE_FLAGS), ...daemonArgs(ctx, options)], options.root);
}

export interface StageTimes {
  /** notify → answer: what the host waits for this agent (the figure the goals are about). */
  readonly total: number;
  /** notify → read: the agent waking up from poll(2) and reading the request. */
  readonly wake: number;
  /** read → answer: the agent's own handling. */
  readonly handle: number;
}

/** The app stage of a host result, which must have succeeded. */
export function appStage(result: HostResult): StageTimes {
  const stage = result.stages.find((s) => s.side === 'app');
  if (result.result !== 'success' || !stage || stage.readMs === undefined || stage.answeredMs === undefined) {
    throw new Error(`expected a successful transaction with an answered app stage, got ${JSON.stringify(result)}`);
  }
  return { total: stage.answeredMs - stage.notifiedMs, wake: stage.readMs - stage.notifiedMs, handle: stage.answeredMs - stage.readMs };
}
