// Preloaded (node --import) by test/cli/help-fast.test.ts: appends the URL of every module the
// process loads to the file named by HVVSS_TEST_MODULES_LOG, so the test can tell which path
// bin/run.js took (oclif's bundle or the fast path) from the module graph, not from timing.
import { appendFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const log = process.env.HVVSS_TEST_MODULES_LOG;
if (log) {
  registerHooks({
    load(url, context, nextLoad) {
      appendFileSync(log, `${url}\n`);
      return nextLoad(url, context);
    },
  });
}
