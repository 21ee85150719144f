// The host side of the emulator, for tests and for the command line: send CHECK/FREEZE/THAW,
// read the host-visible results and the kernel's event log (stale writes, opens, ...).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostResult, KernelEvent } from './vss-kernel.ts';
import type { FsDaemonMode } from './fs-daemon-standin.ts';
import type { UfsEvent } from './ufs-suspend.ts';
import type { EmulatorPaths } from './emulator-server.ts';
import type { VssOp } from '../protocol/hv-vss.ts';
import type { LinuxHostResult, LinuxKernelEvent } from './linux-vss-kernel.ts';
import type { LinuxEmulatorPaths } from './linux-emulator-server.ts';
import type { LinuxKernelLimits } from '../protocol/linux-vss.ts';

export type RecordedEvent = (KernelEvent | UfsEvent) & { readonly seq: number; readonly at: number };
export type RecordedLinuxEvent = LinuxKernelEvent & { readonly seq: number; readonly at: number };

export interface EmulatorState {
  readonly app: boolean;
  readonly fs: boolean;
  readonly fsDaemon: { mode: FsDaemonMode; pid: number } | null;
  readonly timeoutMs: number;
  readonly hostWaitMs: number;
  readonly detached: boolean;
}

export type DetachEvent = Extract<KernelEvent, { kind: 'detach' }>;

interface Pending {
  resolve(value: Record<string, unknown>): void;
  reject(err: Error): void;
}

export class EmulatorHost {
  readonly #socket: Socket;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Set<(event: RecordedEvent) => void>();
  #nextId = 1;
  #subscribed: Promise<unknown> | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const message = JSON.parse(buffered.slice(0, newline)) as Record<string, unknown>;
        buffered = buffered.slice(newline + 1);
        if ('event' in message) {
          for (const listener of this.#listeners) listener(message.event as RecordedEvent);
          continue;
        }
        const pending = this.#pending.get(message.id as number);
        this.#pending.delete(message.id as number);
        if (typeof message.error === 'string') pending?.reject(new Error(`emulator: ${message.error}`));
        else pending?.resolve(message);
      }
    });
    socket.on('close', () => {
      for (const pending of this.#pending.values()) pending.reject(new Error('emulator control socket closed'));
      this.#pending.clear();
    });
  }

  static async connect(control: string): Promise<EmulatorHost> {
    const socket = createConnection(control);
    await once(socket, 'connect');
    return new EmulatorHost(socket);
  }

  #call(body: object): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#socket.write(JSON.stringify({ id, ...body }) + '\n');
    });
  }

  /** Sends one host request and resolves with what the host sees. */
  async request(request: VssOp | { opt: number }): Promise<HostResult> {
    const body = typeof request === 'string' ? { cmd: 'request', op: request } : { cmd: 'request', opt: request.opt };
    return (await this.#call(body)).result as HostResult;
  }

  /** The Linux emulator: sends HOT_BACKUP, FREEZE, THAW (or a raw code) and resolves with what the host gets. */
  async linuxRequest(request: 'hot-backup' | 'freeze' | 'thaw' | { code: number }, flags = 0): Promise<LinuxHostResult> {
    const body = typeof request === 'string' ? { cmd: 'request', op: request, flags } : { cmd: 'request', opt: request.code, flags };
    return (await this.#call(body)).result as LinuxHostResult;
  }

  /** The Linux emulator: hv_vss_pre_suspend (a fake THAW queued, the request in flight unanswered). */
  async hibernate(): Promise<void> {
    await this.#call({ cmd: 'hibernate' });
  }

  async events(): Promise<RecordedEvent[]> {
    return (await this.#call({ cmd: 'events' })).events as RecordedEvent[];
  }

  async state(): Promise<EmulatorState> {
    return (await this.#call({ cmd: 'state' })) as unknown as EmulatorState;
  }

  /** Restarts the stand-in fs daemon with another behaviour, or stops it ('stop'). */
  async fsDaemon(mode: FsDaemonMode | 'stop'): Promise<void> {
    await this.#call({ cmd: 'fs-daemon', mode });
  }

  /**
   * Detaches the driver as FreeBSD's hv_vss_detach does: SIGKILL to the last opener of each
   * device, no reply for anything queued, the device files gone. Resolves with who was killed.
   */
  async detach(): Promise<DetachEvent> {
    return (await this.#call({ cmd: 'detach' })).detach as DetachEvent;
  }

  /**
   * Resolves with the first event (past or future) that matches, or rejects after timeoutMs.
   * Tests wait on events with this instead of sleeping.
   */
  async waitForEvent(match: (event: RecordedEvent) => boolean, timeoutMs = 10_000): Promise<RecordedEvent> {
    return this.#waitFor(match, timeoutMs);
  }

  /** waitForEvent for the Linux emulator's events. */
  async waitForLinuxEvent(match: (event: RecordedLinuxEvent) => boolean, timeoutMs = 10_000): Promise<RecordedLinuxEvent> {
    return this.#waitFor(match as (event: RecordedEvent) => boolean, timeoutMs) as unknown as Promise<RecordedLinuxEvent>;
  }

  async #waitFor(match: (event: RecordedEvent) => boolean, timeoutMs: number): Promise<RecordedEvent> {
    this.#subscribed ??= this.#call({ cmd: 'subscribe' });
    let listener: ((event: RecordedEvent) => void) | undefined;
    const future = new Promise<RecordedEvent>((resolve) => {
      listener = (event) => match(event) && resolve(event);
      this.#listeners.add(listener);
    });
    await this.#subscribed;
    let timer: NodeJS.Timeout | undefined;
    try {
      const past = (await this.events()).find(match);
      if (past) return past;
      return await Promise.race([
        future,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no matching emulator event within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (listener) this.#listeners.delete(listener);
    }
  }

  close(): void {
    this.#socket.destroy();
  }
}

/** An emulator running in its own process, with the host connected to its control socket. */
interface EmulatorProcess<P> {
  readonly paths: P;
  readonly dir: string;
  readonly host: EmulatorHost;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Runs main.ts with `args` and waits for its ready line (the paths, as JSON), then connects as
 * the host. stop() shuts it down with SIGTERM (main.ts unmounts before exiting) and removes the
 * directory unless the caller gave it (`ownDir` false).
 */
async function runEmulatorProcess<P extends { readonly control: string }>(
  dir: string,
  ownDir: boolean,
  args: readonly string[],
  stderr: 'inherit' | 'ignore' | undefined,
): Promise<EmulatorProcess<P>> {
  const self = fileURLToPath(import.meta.url);
  const main = join(self, '..', `main${extname(self)}`);
  const child = spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'pipe', stderr ?? 'ignore'] });
  child.stdout!.setEncoding('utf8');
  let output = '';
  const paths = await new Promise<P>((resolve, reject) => {
    child.stdout!.on('data', (chunk: string) => {
      output += chunk;
      const line = output.split('\n')[0];
      if (output.includes('\n') && line) resolve(JSON.parse(line) as P);
    });
    child.once('exit', (code) => reject(new Error(`emulator exited (${code}) before it was ready`)));
  });
  const host = await EmulatorHost.connect(paths.control);
  return {
    paths,
    dir,
    host,
    process: child,
    async stop() {
      host.close();
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RunningEmulator extends EmulatorPaths {
  readonly dir: string;
  readonly host: EmulatorHost;
  readonly process: ChildProcess;
  /** Shuts the emulator down (unmounts) and removes its directory. */
  stop(): Promise<void>;
}

export interface StartEmulatorOptions {
  readonly timeoutMs?: number;
  /** How long the host waits for a reply before it reports 'unanswered' (default: twice timeoutMs). */
  readonly hostWaitMs?: number;
  readonly fsDaemon?: FsDaemonMode | 'none';
  /** Loop mounts /dev/ufssuspend may suspend (--ufs-allow), standing for UFS file systems. */
  readonly ufsAllow?: readonly string[];
  readonly dir?: string;
  /** Where the emulator's log lines go (default: dropped). */
  readonly stderr?: 'inherit' | 'ignore';
}

/** Starts the emulator in its own process and connects to it as the host. */
export async function startEmulator(options: StartEmulatorOptions = {}): Promise<RunningEmulator> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'hvvss-emu-'));
  const args = ['--dir', dir, '--timeout-ms', String(options.timeoutMs ?? 15_000), '--fs-daemon', options.fsDaemon ?? 'success'];
  if (options.hostWaitMs !== undefined) args.push('--host-wait-ms', String(options.hostWaitMs));
  for (const mountpoint of options.ufsAllow ?? []) args.push('--ufs-allow', mountpoint);
  const { paths, stop, ...running } = await runEmulatorProcess<EmulatorPaths>(dir, !options.dir, args, options.stderr);
  return { ...paths, ...running, stop };
}

export interface RunningLinuxEmulator extends LinuxEmulatorPaths {
  readonly dir: string;
  readonly host: EmulatorHost;
  readonly process: ChildProcess;
  /** Shuts the emulator down (unmounts) and removes its directory. */
  stop(): Promise<void>;
}

export interface StartLinuxEmulatorOptions {
  /** The kernel's limits; tests shorten them (default: Linux's, 900 s and 30 s). */
  readonly limits?: Partial<LinuxKernelLimits>;
  readonly dir?: string;
  readonly stderr?: 'inherit' | 'ignore';
}

/** Starts the Linux emulator (/dev/vmbus/hv_vss) in its own process and connects to it as the host. */
export async function startLinuxEmulator(options: StartLinuxEmulatorOptions = {}): Promise<RunningLinuxEmulator> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'hvvss-emu-linux-'));
  const args = ['--linux', '--dir', dir];
  if (options.limits?.otherMs !== undefined) args.push('--timeout-ms', String(options.limits.otherMs));
  if (options.limits?.freezeMs !== undefined) args.push('--freeze-timeout-ms', String(options.limits.freezeMs));
  const { paths, stop, ...running } = await runEmulatorProcess<LinuxEmulatorPaths>(dir, !options.dir, args, options.stderr);
  return { ...paths, ...running, stop };
}
