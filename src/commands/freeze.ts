import { Args, Command } from '@oclif/core';
import { runFlags } from '../cli/manual-flags.ts';
import { secondsFlag } from '../cli/flags.ts';
import { runManualCommand } from '../cli/manual-run.ts';
import { runFreeze, runFreezeCommand } from '../manual/operations.ts';

export default class Freeze extends Command {
  static override summary = 'Freeze the hooks by hand; with "-- COMMAND", run it while frozen and thaw.';

  static override description = `Runs "HOOK freeze" for every runnable hook in name order with HVVSS_REASON=manual and the daemon's limits; at the first failure it stops and thaws what it started, in reverse (HVVSS_REASON=rollback). No device is needed.

With "-- COMMAND [ARGS...]" it freezes, runs the command while frozen (e.g. zfs snapshot -r tank@backup), then thaws, always: also when the command fails, on Ctrl-C or SIGTERM (passed on to the command), and when the command is still running at --max-frozen (it then gets SIGTERM, SIGKILL after --kill-grace). Its exit status is the command's (128+N for signal N), or non-zero when the freeze or the thaw failed. With --json the command's standard output goes to standard error.

Without a command the hooks stay frozen for a later "hvvss thaw": a small background process (the keeper) holds the resident hooks and thaws by itself after --max-frozen if nobody thawed first (HVVSS_REASON=watchdog). The freeze is recorded in the daemon's freeze journal: while it lasts the daemon answers the host's CHECK and FREEZE with failure, and other manual runs are refused.

Exit status without a command: 0 frozen; 1 a hook failed (rolled back), was refused, or the hooks directory is unusable; 2 bad usage; 3 the hooks are busy (a host backup through the daemon, or another manual run); 128+N interrupted by signal N (rolled back).`;

  static override examples = [
    { description: 'Snapshot while the applications are frozen:', command: '<%= config.bin %> <%= command.id %> -- zfs snapshot -r tank@backup' },
    { description: 'Freeze for at most 30 s, then thaw by hand:', command: '<%= config.bin %> <%= command.id %> --max-frozen 30 && take-snapshot; <%= config.bin %> thaw' },
    { description: 'See what would run, in order:', command: '<%= config.bin %> <%= command.id %> --dry-run' },
  ];

  static override strict = false;

  static override args = {
    command: Args.string({ description: 'Command to run while frozen, after "--".', required: false }),
  };

  static override flags = {
    ...runFlags,
    'max-frozen': secondsFlag('Thaw by itself this long after the freeze succeeded (and stop COMMAND if still running).', 60),
  };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(Freeze);
    const command = (argv as string[]).filter((arg, i) => !(i === 0 && arg === '--'));
    const code = await runManualCommand('freeze', flags, (context, display) =>
      command.length === 0
        ? runFreeze(context)
        : runFreezeCommand(context, { argv: command, stdout: flags.json ? 'stderr' : 'inherit', settled: () => display.settled() }),
    );
    if (code !== 0) this.exit(code);
  }
}
