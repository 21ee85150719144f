// The npm package as an admin gets it: `npm pack` of the built tree (run `npm run build` first), its
// contents, then `npm install -g` of the tarball into a temporary prefix (the layout of
// /usr/local/lib/node_modules/hvvss that rc.d/hvvss expects) and the installed hvvss run from there.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startEmulator } from '../../src/emulator/host-client.ts';
import { hooksFixture } from '../support/hooks-dir.ts';
import { WatchedProcess, within } from '../support/process.ts';

const run = promisify(execFile);
const HELPER_SOURCE = 'src/fs/helper/hvvss-fsfreeze.c';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// npm and the installed bin's `#!/usr/bin/env node` find this Node.js (24) first.
const ENV = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}` };

let scratch: string;
let tarball: string;
let files: Map<string, number>;

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'hvvss-package-'));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: ROOT, env: ENV, timeout: 120_000 });
  const [packed] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string; mode: number }> }>;
  assert.ok(packed);
  tarball = join(scratch, packed.filename);
  files = new Map(packed.files.map((f) => [f.path, f.mode]));
});
after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

test('the tarball has the built CLI, its manifest, the man pages, the sample hooks, rc.d/hvvss, the systemd unit and LICENSE, and no sources (but the helper\'s C) or emulator', () => {
  const paths = [...files.keys()];
  for (const required of ['package.json', 'LICENSE', 'bin/run.cjs', 'oclif.manifest.json', 'dist/commands/daemon.js', 'dist/cli/help-fast.js', 'dist/cli/root-help.json', 'rc.d/hvvss', 'systemd/hvvss.service']) {
    assert.ok(files.has(required), `${required} is in the package (did "npm run build" run?); it has:\n${paths.join('\n')}`);
  }
  const samples = readdirSync(join(ROOT, 'hooks.d'));
  assert.ok(samples.length > 0);
  for (const sample of samples) assert.ok(files.has(`hooks.d/${sample}`), `hooks.d/${sample} is in the package`);
  const manDir = join(ROOT, 'man');
  for (const page of existsSync(manDir) ? readdirSync(manDir) : []) assert.ok(files.has(`man/${page}`), `man/${page} is in the package`);
  // Executable where it matters: the bin, the rc.d script (copied to /usr/local/etc/rc.d) and the samples.
  for (const exe of ['bin/run.cjs', 'rc.d/hvvss', ...samples.map((s) => `hooks.d/${s}`)]) {
    assert.equal((files.get(exe) ?? 0) & 0o111, 0o111, `${exe} is executable in the package (mode ${(files.get(exe) ?? 0).toString(8)})`);
  }
  // One source is shipped on purpose: the suspension helper's C, which UFS needs (UFSSUSPEND
  // refuses a multi-threaded caller such as Node.js) and which npm cannot build for FreeBSD; the
  // port compiles it, and after "npm install -g" the admin does (README, Install on FreeBSD).
  assert.ok(files.has(HELPER_SOURCE), `${HELPER_SOURCE} is in the package`);
  const strays = paths.filter((p) => p !== HELPER_SOURCE && (/^(src|test|bench|scripts|\.ci)\//.test(p) || (p.endsWith('.ts') && !p.endsWith('.d.ts'))));
  assert.deepEqual(strays, [], 'sources and tests stay out of the package');
  // The emulator (and its FUSE server and mount calls) is for tests and the demo only, though built.
  assert.ok(existsSync(join(ROOT, 'dist', 'emulator')), 'the emulator is built (the test above would pass vacuously otherwise)');
  assert.deepEqual(paths.filter((p) => p.startsWith('dist/emulator/')), [], 'the emulator stays out of the package');
  assert.ok(existsSync(join(ROOT, 'dist', 'native', 'linux-mount.js')), 'the mount bindings are built');
  assert.equal(paths.includes('dist/native/linux-mount.js'), false, 'the mount bindings stay out of the package');
});

test('npm install -g of the tarball gives a working hvvss: --help, simulate -h, and the daemon against the emulator', async () => {
  const prefix = join(scratch, 'prefix');
  await run('npm', ['install', '--global', '--prefix', prefix, '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', tarball], { env: ENV, timeout: 300_000 });

  // The paths rc.d/hvvss and the install notes use, under the prefix (/usr/local on FreeBSD).
  const script = join(prefix, 'lib', 'node_modules', 'hvvss', 'bin', 'run.cjs');
  assert.ok(existsSync(script), `${script} exists`);
  const bin = join(prefix, 'bin', 'hvvss');
  assert.equal(resolve(dirname(bin), readlinkSync(bin)), script);
  assert.ok(statSync(join(prefix, 'lib', 'node_modules', 'hvvss', 'rc.d', 'hvvss')).mode & 0o100);
  assert.ok(!existsSync(join(prefix, 'lib', 'node_modules', 'hvvss', 'node_modules', 'typescript')), 'no dev dependencies');

  const help = await run(bin, ['--help'], { env: ENV, timeout: 30_000 });
  assert.match(help.stdout, /USAGE\s+\$ hvvss \[COMMAND\]/);
  for (const command of ['daemon', 'simulate']) assert.match(help.stdout, new RegExp(`^\\s+${command}\\s`, 'm'));
  // The installed layout (plugins in the package's own node_modules, package.json as npm left it)
  // still matches the prebuilt root help: the fast path answers (it does not load oclif's entry),
  // with oclif's bytes.
  const modules = join(scratch, 'help-modules');
  const recorder = join(ROOT, 'test', 'cli', 'record-modules.cjs');
  const plain = Object.fromEntries(Object.entries(ENV).filter(([name]) => !['FORCE_COLOR', 'OCLIF_COLUMNS', 'DEBUG', 'HVVSS_DEBUG'].includes(name)));
  const fast = await run(process.execPath, ['--require', recorder, script, '--help'], { env: { ...plain, HVVSS_TEST_MODULES_LOG: modules }, timeout: 30_000 });
  assert.equal(readFileSync(modules, 'utf8').includes('/dist/cli/run-cli.js'), false, 'the installed --help took the fast path');
  const oclif = await run(process.execPath, [script, '--help'], { env: { ...plain, HVVSS_NO_FAST_HELP: '1' }, timeout: 30_000 });
  assert.equal(fast.stdout, oclif.stdout);
  const simulate = await run(process.execPath, [script, 'simulate', '-h'], { env: ENV, timeout: 30_000 });
  assert.match(simulate.stdout, /\$ hvvss simulate/);

  // The suspension helper: its C is installed with the package, the code that names it in the
  // "missing helper" refusal finds it two directories up (as from src/fs/), and the command the
  // refusal and the README give builds it without a warning.
  const installed = join(prefix, 'lib', 'node_modules', 'hvvss');
  assert.ok(existsSync(join(installed, HELPER_SOURCE)), `${HELPER_SOURCE} is installed`);
  const naming = (await run('grep', ['-rl', 'src/fs/helper/hvvss-fsfreeze.c', join(installed, 'dist')])).stdout.trim().split('\n');
  for (const file of naming) assert.equal(resolve(dirname(file), '..', '..'), installed, `${file} resolves ../../${HELPER_SOURCE} in the package`);
  const helper = join(scratch, 'hvvss-fsfreeze');
  await run('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', helper, join(installed, HELPER_SOURCE)]);
  assert.ok(statSync(helper).mode & 0o100);

  // The installed copy, native binding and all, registers and answers.
  const emu = await startEmulator({ timeoutMs: 5_000 });
  const fx = hooksFixture({ '10-a': 'exit 0' });
  try {
    const daemon = new WatchedProcess(process.execPath, [
      script, 'daemon', '-n', '--device', emu.appDevice, '--hooks-dir', fx.dir, '--state-dir', join(fx.root, 'state'),
      '--pidfile', join(fx.root, 'hvvss.pid'), '--socket', join(fx.root, 'hvvss.sock'), '--kernel-timeout', '5', '--timeout', '3',
    ], { env: ENV });
    try {
      await daemon.waitForLine(/registered on /, 20_000);
      assert.equal((await emu.host.request('check')).result, 'success', daemon.output);
    } finally {
      assert.equal((await within(daemon.stop(), 20_000, 'the installed daemon to stop')).code, 0, daemon.output);
    }
  } finally {
    fx.cleanup();
    await emu.stop();
  }
});
