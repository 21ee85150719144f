import { Command, Flags } from '@oclif/core';
import { printStartupError, runAgentProcess, StartupError } from '../cli/agent-process.ts';
import { deviceFlag, hooksDirFlag, kernelTimeoutFlag, pidfileFlag, secondsFlag, socketFlag, stateDirFlag } from '../cli/flags.ts';
import { VssDevice, type DeviceEvent } from '../native/vss-device.ts';
import { systemClock } from '../util/clock.ts';
import { DAEMON_NODE_FLAGS, hooksLockIn, journalIn } from '../state/paths.ts';
import { HooksLock } from '../state/hooks-lock.ts';
import { Pidfile } from '../daemon/pidfile.ts';
import { FreezeJournal } from '../state/freeze-journal.ts';
import { createHookEngine } from '../engine/hook-engine.ts';
import { VssAgent } from '../daemon/vss-agent.ts';
import { FreezeEngine } from '../engine/freeze-engine.ts';
import { ControlServer } from '../daemon/control-server.ts';
import { ManualService } from '../daemon/manual-service.ts';
import { processTrustedUids } from '../hooks/trusted-path.ts';
import { prepareStateDir } from '../state/index.ts';
import { fsPolicyFlagsFor, fsPolicyFrom, loadFsPolicy } from '../fs/fs-flags.ts';
import { FsStage, loadedMountOps } from '../fs/fs-stage.ts';
import { DEFAULT_HELPER } from '../fs/freeze-helper.ts';
import { resolve } from 'node:path';
import { FsAgent } from '../daemon/fs-agent.ts';
import { openFsDevice, FS_DEVICE, NO_FS_DEVICE } from '../daemon/fs-device.ts';
import { DEFAULT_FREEZE_TIMEOUT_S, PROTOCOLS, linuxDeadlineProblem, openLinuxChannel, resolveProtocol } from '../daemon/linux-channel.ts';
import type { RequestChannel } from '../native/vss-device.ts';

export default class Daemon extends Command {
  static override summary = 'Register as the application VSS agent and run the hooks on every host request.';

  static override description = `Opens the application VSS device and, for each CHECK, FREEZE and THAW the Hyper-V host sends, runs the executable scripts in the hooks directory (check and freeze in name order, thaw in reverse), answering the kernel before its 15 s limit.

On Linux guests (/dev/vmbus/hv_vss, the default device there; --protocol) the kernel sends HOT_BACKUP, FREEZE and THAW, and hvvss replaces the distribution's hv_vss_daemon: HOT_BACKUP checks the hooks and the mount plan, FREEZE runs the freeze hooks and then freezes the plan's file systems (FIFREEZE, last), THAW thaws them first and then runs the thaw hooks; FREEZE is answered within --freeze-timeout, HOT_BACKUP and THAW within --timeout.

Whatever it freezes it thaws: after a failed freeze (rollback), when an answer could only go out too late, when no THAW arrives within --max-frozen (watchdog), on SIGTERM or SIGINT, and, after a crash, at the next start (from the freeze journal) before registering again.

It never mixes with the operator commands: while "hvvss freeze" (or check, thaw) holds the hooks, it answers the host's CHECK and FREEZE with failure and logs who holds them; a freeze recorded by a manual holder that is still alive is left to that holder at start-up.

Without -n it detaches and logs to syslog (ident hvvss, facility daemon); the parent exits non-zero with the reason if the daemon could not start. With -n it logs to standard error, or with --syslog to syslog as when detached: rc.d runs "hvvss daemon -n --syslog" under daemon(8), so that an error reaches syslog as an error and a debug line as debug.`;

  static override examples = [
    { description: 'Run in the foreground with debug output:', command: '<%= config.bin %> <%= command.id %> -n -d' },
    { description: 'Use another hooks directory and a 30 s freeze window:', command: '<%= config.bin %> <%= command.id %> --hooks-dir /opt/hooks --max-frozen 30' },
  ];

  static override flags = {
    foreground: Flags.boolean({ char: 'n', summary: 'Stay in the foreground and log to standard error (to syslog with --syslog).' }),
    syslog: Flags.boolean({ summary: 'Log to syslog (ident hvvss, facility daemon), each line with its own priority, also in the foreground: for daemon(8) in rc.d.' }),
    debug: Flags.boolean({ char: 'd', summary: 'Log debug lines too.' }),
    device: deviceFlag,
    'hooks-dir': hooksDirFlag,
    timeout: secondsFlag('Answer every request within this long after reading it; must leave the fs daemon time inside the kernel limit.', 10),
    'hook-timeout': secondsFlag('Limit for one hook invocation (SIGTERM to its process group, SIGKILL after --kill-grace).', 8),
    'kill-grace': secondsFlag('Time between SIGTERM and SIGKILL for a hook past its time.', 1),
    'max-frozen': secondsFlag('Thaw by itself when no THAW arrives within this long after a freeze (watchdog).', 60),
    pidfile: pidfileFlag,
    socket: socketFlag,
    'state-dir': stateDirFlag,
    'kernel-timeout': kernelTimeoutFlag,
    'fs-role': Flags.boolean({
      summary: 'Also freeze the file systems of the mount plan: after the freeze hooks, thawed before the thaw hooks (see "hvvss check --dry-run").',
    }),
    // Without dependsOn: on the Linux protocol the fs role is implied (checked in run()).
    ...fsPolicyFlagsFor(),
    'fs-helper': Flags.string({
      summary: `The suspension helper that holds the file systems (needed for UFS on FreeBSD, where it defaults to ${DEFAULT_HELPER}; on Linux, FIFREEZE is called from hvvss itself unless this is set).`,
      env: 'HVVSS_FSFREEZE_HELPER',
      helpValue: 'PATH',
      parse: async (input) => resolve(input),
    }),
    'fs-device': Flags.string({
      summary: `With --fs-role, the fs VSS device to register on as well, in place of hv_vss_daemon (stop it first), or "${NO_FS_DEVICE}" to leave it to hv_vss_daemon and freeze the mounts inside the application FREEZE.`,
      env: 'HVVSS_FS_DEVICE',
      default: FS_DEVICE,
      helpValue: 'PATH',
      parse: async (input) => (input === NO_FS_DEVICE ? input : resolve(input)),
    }),
    protocol: Flags.string({
      summary: 'The kernel interface: freebsd (hv_vss(4), /dev/hv_appvss_dev) or linux (/dev/vmbus/hv_vss, where the fs role is always on). Default: from the device name, else from the OS.',
      env: 'HVVSS_PROTOCOL',
      options: [...PROTOCOLS],
    }),
    'freeze-timeout': secondsFlag('Linux only: answer FREEZE within this long after reading it (the kernel allows 900 s); must be shorter than --max-frozen.', DEFAULT_FREEZE_TIMEOUT_S),
    help: Flags.help({ char: 'h' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Daemon);
    const kernelTimeoutMs = flags['kernel-timeout'] * 1000;
    const requestTimeoutMs = flags.timeout * 1000;
    const protocol = resolveProtocol(flags.protocol, flags.device);
    const linux = protocol === 'linux' ? { requestTimeoutMs, freezeTimeoutMs: flags['freeze-timeout'] * 1000, maxFrozenMs: flags['max-frozen'] * 1000 } : undefined;
    const linuxProblem = linux && linuxDeadlineProblem(linux);
    if (linuxProblem) this.error(linuxProblem, { exit: 2 });
    const fsFlags = (['fs-include', 'fs-skip', 'fs-sync', 'fs-remount-ro', 'fs-skip-if-busy', 'fs-sync-if-busy', 'fs-policy', 'fs-helper'] as const).filter((name) => flags[name] !== undefined);
    if (!linux && !flags['fs-role'] && fsFlags.length > 0) {
      this.error(`--${fsFlags[0]} needs --fs-role (on the Linux protocol the fs role is always on)`, { exit: 2 });
    }
    if (!linux && requestTimeoutMs >= kernelTimeoutMs) {
      this.error(
        `--timeout ${flags.timeout} must be below the kernel's limit of ${flags['kernel-timeout']} s (which also covers hv_vss_daemon's file system freeze); the default is 10`,
        { exit: 2 },
      );
    }
    if (flags['kill-grace'] >= flags.timeout) {
      this.error(`--kill-grace ${flags['kill-grace']} must be shorter than --timeout ${flags.timeout}: a hook past its time must be killed before the answer is due`, { exit: 2 });
    }
    const startedAt = new Date();
    try {
      await runAgentProcess({
        name: 'hvvss daemon',
        foreground: flags.foreground,
        syslog: flags.syslog,
        debug: flags.debug,
        facility: 'daemon',
        stream: process.stderr,
        nodeFlags: DAEMON_NODE_FLAGS,
        start: async (log) => {
          const logger = log;
          logger.info(`hvvss daemon starting; pid ${process.pid}`);
          const pidfile = Pidfile.acquire(flags.pidfile);
          try {
            const trustedUids = processTrustedUids();
            // Recovery acts on what the state directory holds: it must be root's alone, or the
            // daemon does not start (the message ends with the command that fixes it).
            prepareStateDir(flags['state-dir'], trustedUids);
            const journal = new FreezeJournal(journalIn(flags['state-dir']));
            const hooks = createHookEngine({
              dir: flags['hooks-dir'],
              trustedUids,
              hookTimeoutMs: flags['hook-timeout'] * 1000,
              killGraceMs: flags['kill-grace'] * 1000,
              clock: systemClock,
              log: logger,
            });
            // Shared with hvvss check/freeze/thaw: a host request during a manual freeze is refused.
            const guard = new HooksLock(hooksLockIn(flags['state-dir']), 'daemon');
            guard.open();
            // The policy file is read once, here: a malformed or untrusted one stops the start.
            const fsPolicy = flags['fs-role'] || linux ? loadFsPolicy(flags, trustedUids) : fsPolicyFrom(flags);
            // FIFREEZE and the remounts: the bindings are loaded now, so a thaw never waits on an import.
            const helper = flags['fs-helper'] ?? (process.platform === 'freebsd' ? DEFAULT_HELPER : undefined);
            // Set once the agent exists: a helper that dies holding UFS mounts breaks the freeze.
            let helperLost = (_why: string): void => {};
            // Linux: nobody else freezes the file systems (one channel, one agent): the fs stage is always on.
            const fs = flags['fs-role'] || linux
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
            const fsDevicePath = fs && !linux && flags['fs-device'] !== NO_FS_DEVICE ? flags['fs-device'] : undefined;
            const engine = new FreezeEngine({
              hooks,
              journal,
              clock: systemClock,
              log: logger,
              holder: { kind: 'daemon', pid: process.pid },
              ...(fs ? { fs, fsChannel: fsDevicePath !== undefined } : {}),
            });
            const agent = new VssAgent({ engine, guard, clock: systemClock, log: logger, settings: { requestTimeoutMs, maxFrozenMs: flags['max-frozen'] * 1000 } });
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
              device = linux ? await openLinuxChannel(flags.device, linux, logger) : VssDevice.open(flags.device, { kernelTimeoutMs, onEvent });
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
              stateDir: flags['state-dir'],
              hookTimeoutMs: flags['hook-timeout'] * 1000,
              killGraceMs: flags['kill-grace'] * 1000,
            });
            const status = await ControlServer.listen(flags.socket, {
              status: () => ({
                pid: process.pid,
                startedAt: startedAt.toISOString(),
                uptimeMs: Date.now() - startedAt.getTime(),
                device: flags.device,
                registered: true,
                devices: [{ role: 'application', path: flags.device }, ...(fsDevice ? [{ role: 'fs', path: fsDevice.path }] : [])],
                protocol,
                hooksDir: hooks.dir,
                stateDir: flags['state-dir'],
                settings: {
                  kernelTimeoutMs: linux ? device.kernelTimeoutMs : kernelTimeoutMs,
                  requestTimeoutMs,
                  ...(linux ? { freezeTimeoutMs: linux.freezeTimeoutMs } : {}),
                  hookTimeoutMs: flags['hook-timeout'] * 1000,
                  maxFrozenMs: flags['max-frozen'] * 1000,
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
          try {
            await agent.run(device);
          } finally {
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
    } catch (err) {
      if (err instanceof StartupError) {
        printStartupError('hvvss daemon', err);
        this.exit(1);
      }
      throw err;
    }
  }
}
