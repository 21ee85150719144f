// Writes oclif.manifest.json from the built commands in dist/, so `hvvss` starts without
// importing every command. Done here with @oclif/core itself rather than the `oclif` CLI
// package, which would pull in a cloud SDK we never use.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Plugin } from '@oclif/core';

const root = fileURLToPath(new URL('..', import.meta.url));
const plugin = new Plugin({ root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true, isRoot: true });
await plugin.load();
const commands = Object.keys(plugin.manifest.commands);
if (commands.length === 0) throw new Error('manifest: no commands found under dist/commands; did tsc run?');
await writeFile(new URL('../oclif.manifest.json', import.meta.url), JSON.stringify(plugin.manifest, null, 2) + '\n');
console.log(`oclif.manifest.json: ${commands.length} commands (${commands.join(', ')})`);
