// The entry points' main (bin/run.cjs on dist/, bin/dev.js on src/): oclif's execute(), except that a
// flag whose value is refused reads as our message alone. oclif wraps what a flag's parse function
// throws as "Parsing --NAME \n\t<message>" (a stray space and a tab); our messages name the flag
// already. Every usage error exits 2: package.json oclif.exitCodes for oclif's own, 2 here for a
// refused value (not exitCodes.failedFlagParsing: oclif would apply it to -h's ExitError too,
// and "hvvss daemon -h" would exit 2).
import { Errors, flush, handle, run, type Interfaces } from '@oclif/core';

const OCLIF_PARSE_PREFIX = /^Parsing --[\w-]+ \n\t/;

/** A usage error with oclif's flag-parsing decoration taken off; other errors unchanged. */
function tidyUsageError(err: unknown): Error {
  const error = err instanceof Error ? err : new Error(String(err));
  // -h/--help ends the parse with oclif's ExitError, prefixed too: it prints nothing and exits 0.
  if (!OCLIF_PARSE_PREFIX.test(error.message) || (error as { code?: string }).code === 'EEXIT') return error;
  return new Errors.CLIError(error.message.replace(OCLIF_PARSE_PREFIX, ''), { exit: 2 });
}

export async function runCli(load: Interfaces.LoadOptions): Promise<void> {
  try {
    await run(process.argv.slice(2), load);
    await flush();
  } catch (err) {
    await handle(tidyUsageError(err));
  }
}
