// Writes dist/cli/root-help.json, the root help bin/run.cjs prints without oclif
// (src/cli/help-fast.ts): oclif's own output, from the built CLI run with the fast path off and
// stdout on a pipe (80 columns, no colour), for every command line the fast path answers; the
// build fails if they differ or if oclif writes anything else. Run by scripts/manifest.ts, after
// the manifest the help is made from.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inputsKey, ROOT_HELP_FILE, ROOT_HELP_FORMS, userAgent, type RootHelp } from '../src/cli/help-fast.ts';

export function writeRootHelp(root: string): void {
  const file = join(root, ROOT_HELP_FILE);
  // A stale text must not answer while oclif renders the new one.
  rmSync(file, { force: true });
  const pjson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string };
  const agent = userAgent(pjson.name, pjson.version);
  if (agent === undefined) throw new Error('root help: this looks like WSL, which oclif names differently; build on Linux or FreeBSD');
  // The builder's own oclif settings must not reach the text: no width, colour or debug variables,
  // and empty data and config directories (no user plugins, no theme).
  const home = mkdtempSync(join(tmpdir(), 'hvvss-root-help-'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    HVVSS_DATA_DIR: join(home, 'data'),
    HVVSS_CONFIG_DIR: join(home, 'config'),
    HVVSS_NO_FAST_HELP: '1',
  };
  let text: string | undefined;
  try {
    for (const form of ROOT_HELP_FORMS) {
      const run = spawnSync(process.execPath, [join(root, 'bin', 'run.cjs'), ...form], { env, encoding: 'utf8', timeout: 60_000 });
      const shown = `"hvvss ${form.join(' ')}"`;
      if (run.status !== 0 || run.stderr !== '') {
        throw new Error(`root help: ${shown} exited ${run.status ?? run.signal} with stderr ${JSON.stringify(run.stderr)}; run it by hand (HVVSS_NO_FAST_HELP=1 node bin/run.cjs ${form.join(' ')})`);
      }
      if (text !== undefined && run.stdout !== text) {
        throw new Error(`root help: ${shown} prints something other than "hvvss ${ROOT_HELP_FORMS[0]?.join(' ')}" does: remove it from ROOT_HELP_FORMS in src/cli/help-fast.ts`);
      }
      text = run.stdout;
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
  const parts = (text ?? '').split(agent);
  if (parts.length !== 2) throw new Error(`root help: oclif's user agent "${agent}" appears ${parts.length - 1} times in the help, not once: update src/cli/help-fast.ts's userAgent()`);
  const key = inputsKey(root);
  if (key === undefined) throw new Error('root help: package.json, oclif.manifest.json or a plugin\'s package.json is missing; run "npm ci" and "npm run build"');
  const saved: RootHelp = { key, name: pjson.name, version: pjson.version, before: parts[0] ?? '', after: parts[1] ?? '' };
  writeFileSync(file, JSON.stringify(saved) + '\n');
}
