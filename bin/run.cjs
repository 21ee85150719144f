#!/usr/bin/env node
// Entry point of the installed command: runs the bundled dist/ (scripts/build.ts) through the
// oclif manifest.
//
// CommonJS, not ESM like the rest of the package: `hvvss daemon` stays resident on every VM, and a
// process whose main module is ESM pays for Node's ESM loader for its whole life (module records,
// linking), about 0.5 MiB of the daemon's memory (docs/benchmarks.md, Footprint). So this file and
// the bundles of its two most frequent paths, the daemon's and status's (dist/cli/*.cjs, which
// also starts sooner without the ESM loader), are CommonJS; everything else is reached with
// import(), as before.
'use strict';

// 22.13: the newest "engines" among the dependencies (listr2's).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
  process.stderr.write(
    `hvvss: Node.js ${process.versions.node} is too old; hvvss needs Node.js 22.13 or later.\n` +
      'Install a newer Node.js (on FreeBSD: pkg install node24) and run hvvss again.\n',
  );
  process.exit(1);
}

const { join } = require('node:path');
const root = join(__dirname, '..');

async function main() {
  // Reuse compiled bytecode between runs: start-up time matters for rc.d and monitoring checks.
  // Not where the file systems may be suspended while the process runs or exits, since Node
  // writes the cache on its own (at exit, and when it compiles what the cache lacks) and a write
  // to a suspended file system blocks until the thaw: the daemon (it runs through every backup,
  // and with the file-system role freezes them itself), status (monitoring asks it during a
  // backup), and freeze and thaw (they exit or start with the hooks, and maybe the file systems,
  // frozen).
  const NO_COMPILE_CACHE = ['daemon', 'status', 'freeze', 'thaw'];
  if (!NO_COMPILE_CACHE.includes(process.argv[2])) require('node:module').enableCompileCache?.();
  // `hvvss status` as monitoring runs it, every minute, without loading oclif (most of its
  // start-up): any command line the fast path does not read exactly as oclif would goes to oclif
  // below.
  if (process.argv[2] === 'status') {
    const { runStatusFast } = require('../dist/cli/status-fast.cjs');
    if (await runStatusFast(process.argv.slice(3))) process.exit();
  }
  // `hvvss daemon` as rc.d and the detached copy start it, likewise: oclif would otherwise stay
  // in the resident daemon's memory for its whole life. Once it has run, Node exits by itself, as
  // after oclif (log lines still queued on a pipe are written first).
  let ran = false;
  // The root help (`hvvss`, `hvvss --help`, `hvvss help`), likewise: oclif's own text, rendered
  // at build time (scripts/root-help.ts), printed only where oclif would print those very bytes
  // (not on a terminal, whose width oclif wraps to); anything else goes to oclif below.
  const first = process.argv[2];
  if (first === undefined || first === '--help' || first === 'help') {
    const { runRootHelpFast } = await import('../dist/cli/help-fast.js');
    ran = runRootHelpFast(root, process.argv.slice(2));
  }
  if (process.argv[2] === 'daemon') {
    const { runDaemonFast } = require('../dist/cli/daemon-fast.cjs');
    ran = await runDaemonFast(process.argv.slice(3));
  }
  if (!ran) {
    // @oclif/core checks Node's version when it loads, with semver (a tenth of the bundled oclif
    // chunk, about 10 ms of CPU per start) against its own package.json, which in the bundle it
    // cannot even find. The check above is the one that counts: skip oclif's, for its load only
    // (the variable is not left to the commands' children).
    const skipEngineCheck = process.env.OCLIF_DISABLE_ENGINE_WARNING === undefined;
    if (skipEngineCheck) process.env.OCLIF_DISABLE_ENGINE_WARNING = '1';
    const { runCli } = await import('../dist/cli/run-cli.js');
    if (skipEngineCheck) delete process.env.OCLIF_DISABLE_ENGINE_WARNING;
    // The package root, where oclif finds package.json and the manifest.
    await runCli(root);
  }
}

// A failure here is a rejection nobody handles: Node prints it and exits with status 1, as for
// an error thrown at the top level of an ES module.
main();
