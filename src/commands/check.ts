import { Command } from '@oclif/core';
import { runFlags } from '../cli/manual-flags.ts';
import { runManualCommand, settingsFrom } from '../cli/manual-run.ts';
import { dryRun, runCheck } from '../manual/operations.ts';
import { chooseDisplay } from '../manual/display.ts';
import { fsPolicyFlags, tryLoadFsPolicy } from '../fs/fs-flags.ts';
import { processTrustedUids } from '../hooks/trusted-path.ts';
import { diagnosisLines } from '../fs/diagnosis.ts';

export default class Check extends Command {
  static override summary = 'Run every hook\'s check by hand, as the daemon does for a host CHECK.';

  static override description = `Runs "HOOK check" for every runnable hook in name order (all of them, even after a failure), with HVVSS_REASON=manual and the daemon's limits. No device is needed.

On a terminal each hook is a line with its state, duration and time left; otherwise (or with CI set) plain lines; with --json one JSON document.

--dry-run also shows the file systems: whether hv_vss_daemon(8) would refuse every backup on this guest (and because of which mount), and the fs role's plan, one line per mount with its action and reason (--fs-include, --fs-skip, --fs-sync, their -if-busy forms and --fs-policy as for the daemon; each line names the flag or policy file line that chose its action). The exit status stays the hooks'.

Exit status: 0 every hook succeeded; 1 a hook failed, was refused, or the hooks directory is unusable; 2 bad usage; 3 the hooks are busy (a host backup through the daemon, or another manual run): try again later.`;

  static override examples = [
    { description: 'Check the hooks:', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'See which hooks would run, why others would not, and what the file systems would go through:', command: '<%= config.bin %> <%= command.id %> --dry-run' },
  ];

  static override flags = { ...runFlags, ...fsPolicyFlags };

  async run(): Promise<void> {
    const { flags } = await this.parse(Check);
    if (flags['dry-run']) {
      const report = await dryRun('check', settingsFrom(flags), tryLoadFsPolicy(flags, processTrustedUids()));
      await (await chooseDisplay({ json: flags.json })).finish(report);
      if (!flags.json && report.fs) process.stdout.write(diagnosisLines(report.fs).join('\n') + '\n');
      if (report.exitCode !== 0) this.exit(report.exitCode);
      return;
    }
    const code = await runManualCommand('check', flags, (context) => runCheck(context));
    if (code !== 0) this.exit(code);
  }
}
