// `hvvss --help` (and `hvvss`, `hvvss help`: oclif prints the same root help for all three)
// without loading @oclif/core, whose start-up is most of the command's (docs/benchmarks.md, CLI
// start). The text is oclif's own, rendered at build time (scripts/root-help.ts) with stdout on a
// pipe, so 80 columns and no colour; it is printed only where oclif would print exactly those
// bytes, and otherwise this returns undefined and bin/run.cjs runs oclif.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** The command lines oclif answers with the root help (checked against oclif at build time). */
export const ROOT_HELP_FORMS: ReadonlyArray<readonly string[]> = [[], ['--help'], ['help']];

/** Where the build writes the prebuilt help, relative to the package root. */
export const ROOT_HELP_FILE = join('dist', 'cli', 'root-help.json');

/**
 * Variables that change what oclif prints for the root help, or add to it: the width
 * (OCLIF_COLUMNS), colour (FORCE_COLOR makes oclif bold the headings even on a pipe), debug
 * output on stderr, and HVVSS_NO_FAST_HELP, which the build and the tests set to get oclif's own.
 */
const OCLIF_VARIABLES = ['HVVSS_NO_FAST_HELP', 'OCLIF_COLUMNS', 'FORCE_COLOR', 'DEBUG', 'HVVSS_DEBUG'];

/** The prebuilt root help: the text around oclif's user agent line, which depends on the machine. */
export interface RootHelp {
  /** inputsKey() of the package the text was rendered from. */
  readonly key: string;
  readonly name: string;
  readonly version: string;
  readonly before: string;
  readonly after: string;
}

/**
 * A hash of what the root help is made from besides oclif's code (bundled by the same build):
 * the package's package.json (name, version, description, oclif settings) and command manifest,
 * and of each plugin (found as Node finds a package: node_modules of the root or of a parent) its
 * oclif settings and its manifest's commands, not its version, so that an install that resolves
 * a newer plugin release with the same commands keeps the fast path. Undefined when one is missing.
 */
export function inputsKey(root: string): string | undefined {
  const hash = createHash('sha256');
  const read = (path: string): string | undefined => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  };
  const pjson = read(join(root, 'package.json'));
  const manifest = read(join(root, 'oclif.manifest.json'));
  if (pjson === undefined || manifest === undefined) return undefined;
  hash.update(`package.json\0${pjson}\0oclif.manifest.json\0${manifest}\0`);
  try {
    const plugins = (JSON.parse(pjson) as { oclif?: { plugins?: unknown } }).oclif?.plugins ?? [];
    if (!Array.isArray(plugins)) return undefined;
    for (const plugin of plugins) {
      if (typeof plugin !== 'string') return undefined;
      const dir = findPackage(root, plugin);
      const its = dir === undefined ? undefined : read(join(dir, 'package.json'));
      const commands = dir === undefined ? undefined : read(join(dir, 'oclif.manifest.json'));
      // Without a manifest oclif loads the plugin's commands from its code: not this path's case.
      if (its === undefined || commands === undefined) return undefined;
      const settings = (JSON.parse(its) as { oclif?: unknown }).oclif ?? null;
      hash.update(`${plugin}\0${JSON.stringify([settings, (JSON.parse(commands) as { commands?: unknown }).commands ?? null])}\0`);
    }
  } catch {
    return undefined;
  }
  return hash.digest('hex');
}

/** The directory of package NAME as Node resolves it from DIR, or undefined. */
function findPackage(dir: string, name: string): string | undefined {
  for (let at = dir; ; at = dirname(at)) {
    const candidate = join(at, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(at) === at) return undefined;
  }
}

/**
 * oclif's user agent line (Config.userAgent) for this machine, or undefined on WSL, which oclif
 * names "wsl" by tests (is-wsl's) this does not repeat: any hint of it and oclif prints the help.
 */
export function userAgent(name: string, version: string): string | undefined {
  if (process.platform === 'linux') {
    if (release().toLowerCase().includes('microsoft')) return undefined;
    try {
      if (readFileSync('/proc/version', 'utf8').toLowerCase().includes('microsoft')) return undefined;
    } catch {
      // Not there: not WSL by this test either.
    }
    if (existsSync('/proc/sys/fs/binfmt_misc/WSLInterop') || existsSync('/run/WSL')) return undefined;
  }
  const arch = process.arch === 'ia32' ? 'x86' : process.arch;
  return `${name}/${version} ${process.platform}-${arch} node-${process.version}`;
}

/**
 * oclif's data directory for this CLI (Config.dataDir), where a package.json would add user
 * plugins. oclif names the variable after oclif.bin and the directory after oclif.dirname: both
 * are the package's name, "hvvss" (a change to package.json changes inputsKey() too).
 */
function dataDir(env: NodeJS.ProcessEnv, dirname: string): string {
  const scoped = env[`${dirname.toUpperCase().replaceAll('-', '_')}_DATA_DIR`];
  if (scoped) return scoped;
  const base = env.XDG_DATA_HOME || join(env.HOME || homedir() || tmpdir(), '.local', 'share');
  return join(base, dirname);
}

const sameForm = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((arg, i) => arg === b[i]);

/**
 * The root help as oclif would print it for ARGV, or undefined when oclif must print it (another
 * command line, a terminal, a variable that changes the help, user plugins, a missing or stale
 * prebuilt text).
 */
export function rootHelpText(root: string, argv: readonly string[], env: NodeJS.ProcessEnv, stdoutIsTTY: boolean): string | undefined {
  if (!ROOT_HELP_FORMS.some((form) => sameForm(form, argv))) return undefined;
  // On a terminal oclif wraps to the terminal's width, not 80 columns (the text would differ on
  // any other width), and bolds the headings: there the prebuilt text would not be oclif's.
  if (stdoutIsTTY) return undefined;
  if (OCLIF_VARIABLES.some((name) => env[name] !== undefined)) return undefined;
  let saved: RootHelp;
  try {
    saved = JSON.parse(readFileSync(join(root, ROOT_HELP_FILE), 'utf8')) as RootHelp;
  } catch {
    return undefined;
  }
  if (typeof saved.before !== 'string' || typeof saved.after !== 'string') return undefined;
  if (existsSync(join(dataDir(env, saved.name), 'package.json'))) return undefined;
  const key = inputsKey(root);
  if (key === undefined || key !== saved.key) return undefined;
  const agent = userAgent(saved.name, saved.version);
  // oclif wraps the line at 80 columns less its indent (2): one near that (a long Node version)
  // might not read as the build's did.
  if (agent === undefined || agent.length > 76) return undefined;
  return saved.before + agent + saved.after;
}

/** bin/run.cjs's entry: prints the root help and returns true, or returns false for oclif to run. */
export function runRootHelpFast(root: string, argv: readonly string[]): boolean {
  const text = rootHelpText(root, argv, process.env, process.stdout.isTTY === true);
  if (text === undefined) return false;
  // A reader that stopped early (`hvvss --help | true`) wants no more: no stack trace for it.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  process.stdout.write(text);
  return true;
}
