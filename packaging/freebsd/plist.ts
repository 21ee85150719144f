// The port's pkg-plist, derived from what `npm pack` puts in the package (run `npm run build`
// first): the package under lib/node_modules/hvvss exactly as packed, plus what the port's
// do-install places elsewhere. The dependencies are listed at build time (post-install).
//
//   node packaging/freebsd/plist.ts          print it
//   node packaging/freebsd/plist.ts --write  rewrite sysutils/hvvss/pkg-plist
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const PLIST = fileURLToPath(new URL('./sysutils/hvvss/pkg-plist', import.meta.url));
export const NODE_MODULE_DIR = 'lib/node_modules/hvvss';

/** The paths `npm pack` would put in the tarball, sorted. */
export function packedFiles(): string[] {
  // npm runs on the Node.js that runs this (24, the dev dependency), not an older one on PATH.
  const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}` };
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const [packed] = JSON.parse(out) as Array<{ files: Array<{ path: string }> }>;
  return packed!.files.map((f) => f.path).sort();
}

export function plist(files: readonly string[]): string {
  const hooks = files.filter((f) => f.startsWith('hooks.d/')).map((f) => f.slice('hooks.d/'.length));
  return [
    'bin/hvvss',
    '@dir(root,wheel,0755) %%ETCDIR%%',
    '@dir(root,wheel,0755) %%ETCDIR%%/hooks.d',
    '@comment Installed as *.sample, never copied into place (not @sample): a hook without the',
    '@comment suffix runs on every backup, so enabling one is the administrator\'s choice.',
    ...hooks.map((h) => `@(root,wheel,0755) %%ETCDIR%%/hooks.d/${h}`),
    '@dir etc/newsyslog.conf.d',
    '@sample %%EXAMPLESDIR%%/newsyslog.conf etc/newsyslog.conf.d/hvvss.conf',
    '@dir etc/syslog.d',
    '@sample %%EXAMPLESDIR%%/syslog.conf etc/syslog.d/hvvss.conf',
    ...files.map((f) => `${NODE_MODULE_DIR}/${f}`),
    // Built by the port's do-build from the packed src/fs/helper/hvvss-fsfreeze.c.
    'libexec/hvvss-fsfreeze',
    'share/man/man8/hvvss.8.gz',
    '',
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const text = plist(packedFiles());
  if (process.argv.includes('--write')) writeFileSync(PLIST, text);
  else process.stdout.write(text);
}
