import { Command, Flags } from '@oclif/core';
import { jsonFlag } from '../cli/manual-flags.ts';
import { hooksDirFlag, pidfileFlag, socketFlag, stateDirFlag } from '../cli/flags.ts';
import { runStatus } from '../cli/status-run.ts';
import { fsPolicyFlags } from '../fs/fs-flags.ts';

export default class Status extends Command {
  static override summary = 'Show the daemon, any freeze, the hooks and the last transactions; exit status for rc.d and monitoring.';

  static override description = `Asks the daemon on its status socket (pid, uptime, whether it is registered on the device, idle/checking/freezing/frozen/thawing, its last transactions with per-hook durations), reads the freeze journal for a freeze held by the daemon or by "hvvss freeze" (and asks its keeper for the resident hooks and the automatic thaw time), judges every entry of the hooks directory, and shows the file systems: whether hv_vss_daemon(8) would refuse every backup on this guest (naming the mount), and the fs role's mount plan (the daemon's policy when it runs with --fs-role, else --fs-include, --fs-skip, --fs-sync, their -if-busy forms and --fs-policy, by default the policy file when there is one; each mount names the flag or policy file line that chose its action). It writes nothing and takes no lock, so it answers while a backup holds the file systems frozen.

Exit status:
  0  healthy: the daemon answers, and nothing is frozen longer than expected
  1  the daemon is not running, or runs without answering (not registered yet, or stuck)
  2  frozen longer than expected: a freeze is past its own automatic thaw time, or the journal records a freeze whose holder is gone ("hvvss thaw" thaws it)
  3  unknown: the status socket or the journal could not be read (not root?)
When several apply, the highest listed first wins: 2, then 1, then 3.`;

  static override examples = [
    { description: 'For a person:', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'For a monitoring check (one JSON document):', command: '<%= config.bin %> <%= command.id %> --json' },
    { description: 'For a Prometheus textfile collector:', command: '<%= config.bin %> <%= command.id %> --prometheus > /var/tmp/node_exporter/hvvss.prom' },
  ];

  static override flags = {
    json: jsonFlag,
    prometheus: Flags.boolean({ summary: 'Print Prometheus metrics (text exposition format) instead.', exclusive: ['json'] }),
    socket: socketFlag,
    pidfile: pidfileFlag,
    'state-dir': stateDirFlag,
    'hooks-dir': hooksDirFlag,
    ...fsPolicyFlags,
    help: Flags.help({ char: 'h' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Status);
    // Also run without oclif by bin/run.cjs for the common command lines (cli/status-fast.ts).
    const code = await runStatus(flags);
    if (code !== 0) this.exit(code);
  }
}
