// The daemon's wiring once its command line is read: device, hooks engine, journal, hooks lock,
// fs role, control socket, and the agent loop until a signal stops it. Shared by the oclif command
// (src/commands/daemon.ts, for --help and anything unusual) and the fast entry that rc.d's command
// line takes (src/cli/daemon-fast.ts), so that the resident daemon loads nothing of oclif: it
// would stay in memory for the daemon's whole life (docs/benchmarks.md, Footprint).
import { printStartupError, runAgentProcess, StartupError } from '../cli/agent-process.ts';
import { VssDevice, type DeviceEvent } from '../native/vss-device.ts';
import { trimCHeap } from '../native/libc.ts';
import { systemClock } from '../util/clock.ts';
import { DAEMON_NODE_FLAGS, hooksLockIn, journalIn } from '../state/paths.ts';
import { HooksLock } from '../state/hooks-lock.ts';
import { Pidfile } from './pidfile.ts';
import { FreezeJournal } from '../state/freeze-journal.ts';
import { createHookEngine } from '../engine/hook-engine.ts';
import { VssAgent } from './vss-agent.ts';
import { FreezeEngine } from '../engine/freeze-engine.ts';
import { ControlServer } from './control-server.ts';
import { ManualService } from './manual-service.ts';
import { processTrustedUids } from '../hooks/trusted-path.ts';
import { prepareStateDir } from '../state/index.ts';
import { fsPolicyFrom, loadFsPolicy, type FsPolicyFlagValues } from '../fs/fs-policy.ts';
import { FsStage, loadedMountOps } from '../fs/fs-stage.ts';
import { DEFAULT_HELPER } from '../fs/freeze-helper.ts';
import { FsAgent } from './fs-agent.ts';
import { openFsDevice, NO_FS_DEVICE } from './fs-device.ts';
import { idleCollector } from './idle-collect.ts';
import { defaultHookSpawner } from '../hooks/hook-spawn-posix.ts';
import type { RequestChannel } from '../native/vss-device.ts';
import { linuxDeadlineProblem, openLinuxChannel, resolveProtocol, type LinuxDeadlines, type Protocol } from './linux-channel.ts';

/**
 * Everything the daemon is told on its command line, under the flags' names (paths absolute,
 * durations in seconds): what both entries hand to runDaemon. A new flag is one field here, one
 * flag in src/commands/daemon.ts and one row in src/cli/daemon-fast.ts's DAEMON_FLAGS (the build
 * fails when the last two differ).
 */
export interface DaemonOptions extends FsPolicyFlagValues {
  readonly foreground: boolean;
  readonly syslog: boolean;
  readonly debug: boolean;
  readonly device: string;
  readonly 'hooks-dir': string;
  readonly timeout: number;
  readonly 'hook-timeout': number;
  readonly 'kill-grace': number;
  readonly 'max-frozen': number;
  readonly pidfile: string;
  readonly socket: string;
  readonly 'state-dir': string;
  readonly 'kernel-timeout': number;
  readonly 'fs-role': boolean;
  readonly 'fs-helper'?: string | undefined;
  readonly 'fs-device': string;
  /** freebsd or linux; undefined: from the device's name, else the OS (resolveProtocol). */
  readonly protocol?: string | undefined;
  readonly 'freeze-timeout': number;
}

/** The protocol these options speak, and on Linux its answer deadlines. */
function protocolOf(options: DaemonOptions): { protocol: Protocol; linux: LinuxDeadlines | undefined } {
  const protocol = resolveProtocol(options.protocol, options.device);
  const linux =
    protocol === 'linux'
      ? { requestTimeoutMs: options.timeout * 1000, freezeTimeoutMs: options['freeze-timeout'] * 1000, maxFrozenMs: options['max-frozen'] * 1000 }
      : undefined;
  return { protocol, linux };
}

const FS_ROLE_FLAGS = ['fs-include', 'fs-skip', 'fs-sync', 'fs-remount-ro', 'fs-skip-if-busy', 'fs-sync-if-busy', 'fs-policy', 'fs-helper'] as const;

/** Why these options cannot work together (a usage error, exit 2), or undefined. */
export function daemonOptionsProblem(options: DaemonOptions): string | undefined {
  const { linux } = protocolOf(options);
  if (linux) {
    const problem = linuxDeadlineProblem(linux);
    if (problem) return problem;
  }
  const fsFlag = FS_ROLE_FLAGS.find((name) => options[name] !== undefined);
  if (!linux && !options['fs-role'] && fsFlag !== undefined) {
    return `--${fsFlag} needs --fs-role (on the Linux protocol the fs role is always on)`;
  }
  if (!linux && options.timeout >= options['kernel-timeout']) {
    return `--timeout ${options.timeout} must be below the kernel's limit of ${options['kernel-timeout']} s (which also covers hv_vss_daemon's file system freeze); the default is 10`;
  }
  if (options['kill-grace'] >= options.timeout) {
    return `--kill-grace ${options['kill-grace']} must be shorter than --timeout ${options.timeout}: a hook past its time must be killed before the answer is due`;
  }
  return undefined;
}

/**
 * Runs the daemon (detached, or in the foreground with -n) until it stops; resolves with the exit
 * status: 1 when it could not start (the reason printed), else 0 (process.exitCode may hold 70
 * after an internal error, once everything is thawed).
 */
export async function runDaemon(options: DaemonOptions): Promise<number> {
  const kernelTimeoutMs = options['kernel-timeout'] * 1000;
  const requestTimeoutMs = options.timeout * 1000;
  const { protocol, linux } = protocolOf(options);
  const startedAt = new Date();
  try {
    await runAgentProcess({
      name: 'hvvss daemon',
      foreground: options.foreground,
      syslog: options.syslog,
      debug: options.debug,
      facility: 'daemon',
      stream: process.stderr,
      nodeFlags: DAEMON_NODE_FLAGS,
      start: async (log) => {
        const logger = log;
        logger.info(`hvvss daemon starting; pid ${process.pid}`);
        const pidfile = Pidfile.acquire(options.pidfile);
        try {
          const trustedUids = processTrustedUids();
          // Recovery acts on what the state directory holds: it must be root's alone, or the
          // daemon does not start (the message ends with the command that fixes it).
          prepareStateDir(options['state-dir'], trustedUids);
          const journal = new FreezeJournal(journalIn(options['state-dir']));
          const { spawner, fallback } = defaultHookSpawner();
          if (fallback !== undefined) logger.notice(`${fallback}; hooks start through node:child_process instead, which copies the daemon's memory map for each (slower)`);
          const hooks = createHookEngine({
            spawner,
            dir: options['hooks-dir'],
            trustedUids,
            hookTimeoutMs: options['hook-timeout'] * 1000,
            killGraceMs: options['kill-grace'] * 1000,
            clock: systemClock,
            log: logger,
          });
          // Shared with hvvss check/freeze/thaw: a host request during a manual freeze is refused.
          const guard = new HooksLock(hooksLockIn(options['state-dir']), 'daemon');
          guard.open();
          // The policy file is read once, here: a malformed or untrusted one stops the start.
          const fsPolicy = options['fs-role'] || linux ? loadFsPolicy(options, trustedUids) : fsPolicyFrom(options);
          // FIFREEZE and the remounts: the bindings are loaded now, so a thaw never waits on an import.
          const helper = options['fs-helper'] ?? (process.platform === 'freebsd' ? DEFAULT_HELPER : undefined);
          // Set once the agent exists: a helper that dies holding UFS mounts breaks the freeze.
          let helperLost = (_why: string): void => {};
          // Linux: nobody else freezes the file systems (one channel, one agent): the fs stage is always on.
          const fs =
            options['fs-role'] || linux
              ? new FsStage({
                  policy: fsPolicy,
                  log: logger,
                  clock: systemClock,
                  ops: await loadedMountOps(),
                  ...(helper ? { helper } : {}),
                  onHelperLost: (why) => helperLost(why),
                })
              : undefined;
          // One process, two channels: with the fs device, the fs stage runs at its FREEZE/THAW.
          const fsDevicePath = fs && !linux && options['fs-device'] !== NO_FS_DEVICE ? options['fs-device'] : undefined;
          const engine = new FreezeEngine({
            hooks,
            journal,
            clock: systemClock,
            log: logger,
            holder: { kind: 'daemon', pid: process.pid },
            ...(fs ? { fs, fsChannel: fsDevicePath !== undefined } : {}),
          });
          const agent = new VssAgent({ engine, guard, clock: systemClock, log: logger, settings: { requestTimeoutMs, maxFrozenMs: options['max-frozen'] * 1000 } });
          helperLost = (why) => {
            const frozen = engine.frozen;
            if (frozen) agent.breakFreeze(frozen.since, why);
          };
          await agent.recover();
          const onEvent = (event: DeviceEvent) => {
            if (event.kind === 'expired-read') logger.warn(`request ${event.msgidText} had already timed out in the kernel when read: skipped`);
            else logger.debug(`poll interrupted (${event.code}): polling again`);
          };
          // The fs device first: when hv_vss_daemon has it, nothing is registered at all.
          const fsDevice = fsDevicePath ? openFsDevice(fsDevicePath, { kernelTimeoutMs, onEvent }) : undefined;
          let device: RequestChannel & { close(): Promise<void> };
          try {
            device = linux ? await openLinuxChannel(options.device, linux, logger) : VssDevice.open(options.device, { kernelTimeoutMs, onEvent });
          } catch (err) {
            await fsDevice?.close();
            throw err;
          }
          const fsAgent = fsDevice
            ? new FsAgent({
                engine,
                clock: systemClock,
                log: logger,
                requestTimeoutMs,
                history: agent.history,
                rollback: (why) => {
                  const frozen = engine.frozen;
                  if (frozen) agent.thawLater(frozen.since, 'rollback', why);
                },
              })
            : undefined;
          const manual = new ManualService({
            agent,
            engine,
            log: logger,
            stateDir: options['state-dir'],
            hookTimeoutMs: options['hook-timeout'] * 1000,
            killGraceMs: options['kill-grace'] * 1000,
          });
          const status = await ControlServer.listen(options.socket, {
            status: () => ({
              pid: process.pid,
              startedAt: startedAt.toISOString(),
              uptimeMs: Date.now() - startedAt.getTime(),
              device: options.device,
              registered: true,
              devices: [{ role: 'application', path: options.device }, ...(fsDevice ? [{ role: 'fs', path: fsDevice.path }] : [])],
              protocol,
              hooksDir: hooks.dir,
              stateDir: options['state-dir'],
              settings: {
                kernelTimeoutMs: linux ? device.kernelTimeoutMs : kernelTimeoutMs,
                requestTimeoutMs,
                ...(linux ? { freezeTimeoutMs: linux.freezeTimeoutMs } : {}),
                hookTimeoutMs: options['hook-timeout'] * 1000,
                maxFrozenMs: options['max-frozen'] * 1000,
              },
              ...(fs ? { fsRole: { policy: fsPolicy } } : {}),
              ...agent.status(),
            }),
            manual: (request, connection) => manual.handle(request, connection),
          });
          return { agent, device, fsAgent, fsDevice, pidfile, status };
        } catch (err) {
          pidfile.release();
          throw err;
        }
      },
      run: async ({ agent, device, fsAgent, fsDevice, pidfile, status }, log, signal) => {
        const stop = (why: string) => {
          // A request under way is answered (failure, so the host learns now) before the device
          // closes; an idle agent is woken from its read by the close.
          fsAgent?.stop();
          void fsDevice?.close();
          if (!agent.stop(why)) void device.close();
        };
        signal.addEventListener('abort', () => stop(String(signal.reason)), { once: true });
        // A bug of ours must not leave anything frozen: stop, thaw (in the finally below), then exit non-zero.
        const crash = (err: unknown) => {
          log.error(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}; thawing whatever is frozen, then exiting`);
          process.exitCode = 70;
          stop('internal error');
        };
        process.on('uncaughtException', crash);
        process.on('unhandledRejection', crash);
        // The fs loop ending (device gone, or a failure) stops the daemon: the fs role cannot be
        // served, and what is frozen is thawed on the way out (mounts first, then hooks).
        const fsLoop = fsAgent && fsDevice
          ? fsAgent.run(fsDevice).then(
              () => stop('the fs device was closed'),
              (err: unknown) => {
                log.error(`the fs device ${fsDevice.path} failed (${(err as Error).message}): stopping, thawing whatever is frozen`);
                process.exitCode = 1;
                stop('fs device lost');
              },
            )
          : Promise.resolve();
        // Every answer to the host re-arms the one collection after the burst (idle-collect.ts);
        // so does start-up, a burst of its own (scan, recovery, registration).
        const collector = idleCollector(undefined, trimCHeap);
        collector.touch();
        const channel: RequestChannel = {
          path: device.path,
          kernelTimeoutMs: device.kernelTimeoutMs,
          nextRequest: () => device.nextRequest(),
          answer: (request, status) => {
            collector.touch();
            return device.answer(request, status);
          },
        };
        try {
          await agent.run(channel);
        } finally {
          collector.stop();
          fsAgent?.stop();
          await fsDevice?.close();
          await fsLoop;
          await device.close();
          await agent.shutdown();
          status.close();
          pidfile.release();
          log.info('unregistered; exiting');
        }
      },
    });
    return 0;
  } catch (err) {
    if (err instanceof StartupError) {
      printStartupError('hvvss daemon', err);
      return 1;
    }
    throw err;
  }
}
