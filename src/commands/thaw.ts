import { Command } from '@oclif/core';
import { runFlags } from '../cli/manual-flags.ts';
import { runManualCommand } from '../cli/manual-run.ts';
import { runThaw } from '../manual/operations.ts';

export default class Thaw extends Command {
  static override summary = 'Thaw what "hvvss freeze" left frozen.';

  static override description = `Thaws exactly the hooks the freeze journal records as frozen, in reverse order, each of them even if one fails, with HVVSS_REASON=manual. The freeze's keeper runs the thaw (it holds the resident hooks) and this command shows it as it happens. If the keeper is gone, the hooks are thawed from the journal (HVVSS_REASON=recovery). With nothing frozen it says so and exits 0.

A freeze held by the daemon for a host backup is not thawed here: the daemon thaws it on the host's THAW or by its watchdog.

Exit status: 0 thawed (or nothing was frozen); 1 a thaw hook failed (the others were thawed) or the journal is unreadable; 2 bad usage; 3 the freeze belongs to the daemon or to a running "hvvss freeze -- COMMAND".`;

  static override examples = [
    { description: 'Thaw after "hvvss freeze":', command: '<%= config.bin %> <%= command.id %>' },
    { description: 'Show what would be thawed, in order:', command: '<%= config.bin %> <%= command.id %> --dry-run' },
  ];

  static override flags = runFlags;

  async run(): Promise<void> {
    const { flags } = await this.parse(Thaw);
    const code = await runManualCommand('thaw', flags, (context) => runThaw(context));
    if (code !== 0) this.exit(code);
  }
}
