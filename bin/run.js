#!/usr/bin/env node
// Entry point of the installed command: runs the bundled dist/ (scripts/build.ts) through the
// oclif manifest.
// 22.13: the newest "engines" among the dependencies (listr2's).
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
  process.stderr.write(
    `hvvss: Node.js ${process.versions.node} is too old; hvvss needs Node.js 22.13 or later.\n` +
      'Install a newer Node.js (on FreeBSD: pkg install node24) and run hvvss again.\n',
  );
  process.exit(1);
}
// Reuse compiled bytecode between runs: start-up time matters for rc.d and monitoring checks.
// Not for `status`: it must never write to disk (the cache is written on first use of a new
// version), since it may run while hv_vss_daemon(8) holds the file systems suspended.
if (process.argv[2] !== 'status') {
  const { enableCompileCache } = await import('node:module');
  enableCompileCache?.();
}
const { runCli } = await import('../dist/cli/run-cli.js');
await runCli(import.meta.url);
