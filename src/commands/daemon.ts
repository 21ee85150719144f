import { Command, Flags } from '@oclif/core';
import { resolve } from 'node:path';
import { deviceFlag, hooksDirFlag, kernelTimeoutFlag, pidfileFlag, secondsFlag, socketFlag, stateDirFlag } from '../cli/flags.ts';
import { DAEMON_SECONDS_DEFAULTS } from '../cli/daemon-fast.ts';
import { daemonOptionsProblem, runDaemon } from '../daemon/daemon-main.ts';
import { fsPolicyFlagsFor } from '../fs/fs-flags.ts';
import { DEFAULT_HELPER } from '../fs/freeze-helper.ts';
import { FS_DEVICE, NO_FS_DEVICE } from '../daemon/fs-device.ts';
import { PROTOCOLS } from '../daemon/linux-channel.ts';

// The command's text and flags; what the daemon does is src/daemon/daemon-main.ts. rc.d's command
// line does not come through here (bin/run.cjs, src/cli/daemon-fast.ts): a flag added here needs its
// row in DAEMON_FLAGS there, or the build fails (scripts/manifest.ts).

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
    timeout: secondsFlag('Answer every request within this long after reading it; must leave the fs daemon time inside the kernel limit.', DAEMON_SECONDS_DEFAULTS.timeout),
    'hook-timeout': secondsFlag('Limit for one hook invocation (SIGTERM to its process group, SIGKILL after --kill-grace).', DAEMON_SECONDS_DEFAULTS['hook-timeout']),
    'kill-grace': secondsFlag('Time between SIGTERM and SIGKILL for a hook past its time.', DAEMON_SECONDS_DEFAULTS['kill-grace']),
    'max-frozen': secondsFlag('Thaw by itself when no THAW arrives within this long after a freeze (watchdog).', DAEMON_SECONDS_DEFAULTS['max-frozen']),
    pidfile: pidfileFlag,
    socket: socketFlag,
    'state-dir': stateDirFlag,
    'kernel-timeout': kernelTimeoutFlag,
    'fs-role': Flags.boolean({
      summary: 'Also freeze the file systems of the mount plan: after the freeze hooks, thawed before the thaw hooks (see "hvvss check --dry-run").',
    }),
    // Without dependsOn: on the Linux protocol the fs role is implied (daemonOptionsProblem checks).
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
    'freeze-timeout': secondsFlag('Linux only: answer FREEZE within this long after reading it (the kernel allows 900 s); must be shorter than --max-frozen.', DAEMON_SECONDS_DEFAULTS['freeze-timeout']),
    help: Flags.help({ char: 'h' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Daemon);
    const problem = daemonOptionsProblem(flags);
    if (problem !== undefined) this.error(problem, { exit: 2 });
    const status = await runDaemon(flags);
    if (status !== 0) this.exit(status);
  }
}
