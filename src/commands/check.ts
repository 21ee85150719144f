import { Command } from '@oclif/core';
import { runFlags } from '../cli/manual-flags.ts';
import { runManualCommand } from '../cli/manual-run.ts';
import { runCheck } from '../manual/operations.ts';

export default class Check extends Command {
  static override summary = 'Run every hook\'s check by hand, as the daemon does for a host CHECK.';

  static override description = `Runs "HOOK check" for every runnable hook in name order (all of them, even after a failure), with HVVSS_REASON=manual and the daemon's limits. No device is needed.

On a terminal each hook is a line with its state, duration and time left; otherwise (or with CI set) plain lines; with --json one JSON document.

Exit status: 0 every hook succeeded; 1 a hook failed, was refused, or the hooks directory is unusable; 2 bad usage; 3 the hooks are busy (a host backup through the daemon, or another manual run): try again later.`;

  static override examples = [
    { description: 'Check the hooks:', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'See which hooks would run, and why others would not:', command: '<%= config.bin %> <%= command.id %> --dry-run' },
  ];

  static override flags = runFlags;

  async run(): Promise<void> {
    const { flags } = await this.parse(Check);
    const code = await runManualCommand('check', flags, (context) => runCheck(context));
    if (code !== 0) this.exit(code);
  }
}
