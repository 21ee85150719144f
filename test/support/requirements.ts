// Tests that need something from outside the project (a Debian package, a database server)
// skip with the reason on a developer's machine that lacks it, but fail in CI, where .ci/run
// installs everything: a skipped test there would hide a missing install step.
import type { TestContext } from 'node:test';

export function missing(t: TestContext, reason: string): void {
  if (process.env.CI) throw new Error(`${reason} (CI installs it in .ci/run: a skip here would hide a missing install step)`);
  t.skip(reason);
}
