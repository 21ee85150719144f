// The root help printed without oclif (src/cli/help-fast.ts, text from scripts/root-help.ts) must be
// the very bytes oclif prints for the same command line on a pipe, the path must really skip
// oclif (told by the modules the process loads, not by timing), and anything it cannot vouch for
// (another command line, a variable that changes the help, a stale or missing text) must reach
// oclif. Needs `npm run build` (npm test runs it first).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ROOT_HELP_FILE, ROOT_HELP_FORMS } from '../../src/cli/help-fast.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const RECORDER = join(import.meta.dirname, 'record-modules.cjs');

let scratch: string;
before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'hvvss-help-fast-'));
});
after(() => {
  rmSync(scratch, { recursive: true, force: true });
});

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Whether the process loaded the bundled oclif entry (dist/cli/run-cli.js). */
  readonly oclif: boolean;
  /** Whether it loaded the fast path's module. */
  readonly fast: boolean;
}

let runs = 0;
/** `hvvss ARGS` from the package at ROOT, stdout on a pipe, with the modules it loaded. */
function hvvss(root: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Run {
  const log = join(scratch, `modules-${++runs}`);
  writeFileSync(log, '');
  // A clean environment: none of the builder's width, colour or debug settings, no user plugins.
  const home = join(scratch, 'home');
  const run = spawnSync(process.execPath, ['--require', RECORDER, join(root, 'bin', 'run.cjs'), ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: process.env.PATH, HOME: home, HVVSS_TEST_MODULES_LOG: log, ...env },
  });
  const modules = readFileSync(log, 'utf8').split('\n');
  return {
    status: run.status,
    stdout: run.stdout,
    stderr: run.stderr,
    oclif: modules.some((url) => url.endsWith('/dist/cli/run-cli.js')),
    fast: modules.some((url) => url.endsWith('/dist/cli/help-fast.js')),
  };
}

const OCLIF = { HVVSS_NO_FAST_HELP: '1' };

test('the build wrote the prebuilt root help', () => {
  assert.ok(existsSync(join(ROOT, ROOT_HELP_FILE)), `${ROOT_HELP_FILE} exists (run "npm run build")`);
});

for (const form of ROOT_HELP_FORMS) {
  test(`"hvvss${form.map((arg) => ` ${arg}`).join('')}" prints oclif's root help byte for byte, without loading oclif`, () => {
    const fast = hvvss(ROOT, form);
    const oclif = hvvss(ROOT, form, OCLIF);
    assert.equal(oclif.oclif, true, 'HVVSS_NO_FAST_HELP=1 runs oclif (else the comparison is void)');
    assert.equal(oclif.status, 0);
    assert.match(oclif.stdout, /^USAGE$/m);
    assert.equal(fast.oclif, false, 'the fast path did not load oclif');
    assert.equal(fast.fast, true);
    assert.equal(fast.stdout, oclif.stdout);
    assert.equal(fast.stderr, oclif.stderr);
    assert.equal(fast.status, oclif.status);
  });
}

test('other command lines and variables that change the help go to oclif', () => {
  // Not the root help in oclif (no -h flag at the root): an error, as oclif prints it.
  const short = hvvss(ROOT, ['-h']);
  assert.equal(short.oclif, true);
  assert.equal(short.status, 2);
  for (const args of [['help', 'status'], ['--help', 'status'], ['status', '--help'], ['--version']]) {
    assert.equal(hvvss(ROOT, args).oclif, true, `hvvss ${args.join(' ')} runs oclif`);
  }
  const wide = hvvss(ROOT, ['--help'], { OCLIF_COLUMNS: '120' });
  assert.equal(wide.oclif, true, 'OCLIF_COLUMNS: oclif renders the help');
  assert.match(wide.stdout, /Run every hook's check by hand, as the daemon does for a host CHECK\./, 'wrapped at 120 columns, not 80');
  assert.equal(hvvss(ROOT, ['--help'], { FORCE_COLOR: '1' }).oclif, true, 'FORCE_COLOR: oclif renders the help');
  // User plugins (oclif's data directory) would add commands to the help.
  const data = join(scratch, 'data');
  cpSync(join(ROOT, 'package.json'), join(data, 'package.json'));
  assert.equal(hvvss(ROOT, ['--help'], { HVVSS_DATA_DIR: data }).oclif, true, 'a user plugins file: oclif renders the help');
});

/** A copy of the built package (its node_modules linked), to make its help stale. */
function packageCopy(name: string): string {
  const copy = join(scratch, name);
  for (const path of ['bin', 'dist/cli', 'dist/chunks', 'dist/commands', 'package.json', 'oclif.manifest.json']) {
    cpSync(join(ROOT, path), join(copy, path), { recursive: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
  return copy;
}

test('a stale prebuilt help (the manifest changed since the build) is not printed: oclif renders the new one', () => {
  const copy = packageCopy('stale');
  const manifestPath = join(copy, 'oclif.manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { commands: Record<string, { summary?: string; description?: string }> };
  const status = manifest.commands.status;
  assert.ok(status);
  status.summary = 'A summary the prebuilt text does not have.';
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  const run = hvvss(copy, ['--help']);
  assert.equal(run.oclif, true);
  assert.equal(run.status, 0);
  assert.match(run.stdout, /A summary the prebuilt text does not have\./);
  assert.equal(run.stdout, hvvss(copy, ['--help'], OCLIF).stdout);
});

test('a missing prebuilt help is not an error: oclif renders it', () => {
  const copy = packageCopy('missing');
  rmSync(join(copy, ROOT_HELP_FILE));
  const run = hvvss(copy, ['--help']);
  assert.equal(run.oclif, true);
  assert.equal(run.status, 0);
  assert.equal(run.stdout, hvvss(ROOT, ['--help'], OCLIF).stdout);
});

test('the untouched copy takes the fast path (the two tests above change one thing each)', () => {
  const copy = packageCopy('intact');
  const run = hvvss(copy, ['--help']);
  assert.equal(run.oclif, false);
  assert.equal(run.stdout, hvvss(ROOT, ['--help'], OCLIF).stdout);
});
