// What the resident daemon keeps out of its memory (issue 13; docs/benchmarks.md, Footprint): it
// runs a host FREEZE/THAW with a hook, as rc.d starts it from the built package, and the modules it
// loaded meanwhile are checked, from the module graph. Each absence below was a measured cost.
// Likewise for `hvvss status`, the other command every VM runs (monitoring, every minute).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DAEMON_NODE_FLAGS } from '../../src/state/paths.ts';
import { emulatorPerFile } from '../support/emulator.ts';
import { hooksForTest, RECORD } from '../support/hooks-dir.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { HVVSS_BIN } from '../support/process.ts';
import { KERNEL_TIMEOUT_S, SHORT_LIMITS, spawnDaemon } from '../support/daemon-fixture.ts';

const RECORDER = join(import.meta.dirname, '..', 'cli', 'record-modules.cjs');

const defer = cleanupsPerTest();
const emu = emulatorPerFile({ timeoutMs: KERNEL_TIMEOUT_S * 1000 });

test('the daemon runs a FREEZE/THAW without oclif, execa, koffi\'s entry, or the lazy parts of Node it does not use', async () => {
  const fx = hooksForTest(defer, { '10-db': RECORD });
  const modules = join(fx.root, 'modules');
  const builtins = join(fx.root, 'builtins');
  const daemon = await spawnDaemon(defer, {
    device: emu.appDevice, hooksDir: fx.dir, root: fx.root, defaults: SHORT_LIMITS,
    nodeOptions: [...DAEMON_NODE_FLAGS, '--require', RECORDER],
    env: { ...process.env, HVVSS_TEST_MODULES_LOG: modules, HVVSS_TEST_BUILTINS_LOG: builtins },
  });
  assert.equal((await emu.host.request('freeze')).result, 'success');
  assert.equal((await emu.host.request('thaw')).result, 'success');
  assert.deepEqual(fx.log(), ['10-db freeze host', '10-db thaw host']);
  const exit = await daemon.stop('SIGTERM');
  assert.equal(exit.code, 0, daemon.output);

  const urls = readFileSync(modules, 'utf8').split('\n').filter((u) => u !== '');
  assert.ok(urls.some((u) => u.endsWith('/dist/cli/daemon-fast.cjs')), 'the built fast entry ran');
  // All of it CommonJS (bin/run.cjs says why): no ES module of the package's was loaded.
  assert.deepEqual(urls.filter((u) => /\/(dist|bin)\/.*\.js$/.test(u)), [], 'ES modules loaded');
  for (const [what, pattern] of [
    ['oclif', /\/@oclif\//], ['execa', /\/node_modules\/execa\//], ['listr2', /\/listr2\//], ['chalk', /\/chalk\//],
    ["koffi's entry module (the addon is opened directly)", /\/node_modules\/koffi\//],
  ] as const) {
    assert.deepEqual(urls.filter((u) => pattern.test(u)), [], `${what} loaded`);
  }
  const loaded = new Set(readFileSync(builtins, 'utf8').split('\n'));
  assert.ok(loaded.has('net'), 'the list is the daemon\'s (it listens on its socket)');
  // fs/promises (and readline with it) came with every ESM import of node:fs; worker_threads and
  // parseArgs with node:util; perf_hooks with the clock; v8 and vm with the idle collection;
  // cluster, and child_process and dgram with it, with listen() on the control socket
  // (src/util/unix-listen.ts); child_process also with hooks started by Node (they start through
  // posix_spawn); Node's crypto layer with Web Crypto's getRandomValues, for the journal's
  // temporary names (src/state/atomic-write.ts reads /dev/urandom).
  for (const name of [
    'internal/fs/promises', 'readline', 'internal/readline/interface', 'worker_threads', 'internal/util/parse_args/parse_args', 'perf_hooks', 'v8', 'vm',
    'cluster', 'dgram', 'child_process', 'internal/crypto/webcrypto', 'internal/crypto/random',
  ]) {
    assert.ok(!loaded.has(name), `${name} loaded`);
  }
});

test('"hvvss status --json", as monitoring runs it, is CommonJS from bin/run.cjs to the answer, without oclif', () => {
  const fx = hooksForTest(defer, {});
  const modules = join(fx.root, 'status-modules');
  writeFileSync(modules, '');
  const run = spawnSync(process.execPath, ['--require', RECORDER, HVVSS_BIN, 'status', '--json', '--socket', join(fx.root, 'none.sock')], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, HVVSS_TEST_MODULES_LOG: modules },
  });
  assert.equal(JSON.parse(run.stdout).health, 'daemonNotRunning', run.stderr);
  const urls = readFileSync(modules, 'utf8').split('\n').filter((u) => u !== '');
  assert.ok(urls.some((u) => u.endsWith('/dist/cli/status-fast.cjs')), 'the built fast entry ran');
  assert.deepEqual(urls.filter((u) => /\/(dist|bin)\/.*\.js$/.test(u)), [], 'ES modules loaded (oclif\'s run-cli.js among them)');
});
