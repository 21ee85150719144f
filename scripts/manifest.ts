// Writes oclif.manifest.json from the built commands in dist/, so `hvvss` starts without
// importing every command. Done here with @oclif/core itself rather than the `oclif` CLI
// package, which would pull in a cloud SDK we never use.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Plugin } from '@oclif/core';
import { STATUS_FLAGS } from '../src/cli/status-fast.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const plugin = new Plugin({ root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true, isRoot: true });
await plugin.load();
const commands = Object.keys(plugin.manifest.commands);
if (commands.length === 0) throw new Error('manifest: no commands found under dist/commands; did tsc run?');
await writeFile(new URL('../oclif.manifest.json', import.meta.url), JSON.stringify(plugin.manifest, null, 2) + '\n');
checkStatusFastPath(plugin.manifest.commands.status?.flags ?? {});
console.log(`oclif.manifest.json: ${commands.length} commands (${commands.join(', ')})`);

/**
 * bin/run.js runs `hvvss status` without oclif (src/cli/status-fast.ts), from its own table of the
 * command's flags. A flag only the command has would still work (the fast path hands it to
 * oclif), but one whose variable or type changed would be read differently: fail the build.
 */
function checkStatusFastPath(flags: Record<string, { type: string; env?: string }>): void {
  const describe = (table: Record<string, { type: string; env?: string }>) =>
    Object.entries(table).map(([name, f]) => `${name}:${f.type}:${f.env ?? ''}`).sort().join(' ');
  if (describe(flags) !== describe(STATUS_FLAGS)) {
    throw new Error(`manifest: the status command's flags (${describe(flags)}) differ from src/cli/status-fast.ts STATUS_FLAGS (${describe(STATUS_FLAGS)}): update the fast path with the command`);
  }
}
