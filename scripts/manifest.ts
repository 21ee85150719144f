// Writes oclif.manifest.json from the built commands in dist/, so `hvvss` starts without
// importing every command. Done here with @oclif/core itself rather than the `oclif` CLI
// package, which would pull in a cloud SDK we never use.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Plugin } from '@oclif/core';
import { STATUS_FLAGS } from '../src/cli/status-fast.ts';
import { DAEMON_FLAGS, type FastFlag } from '../src/cli/daemon-fast.ts';
import { writeRootHelp } from './root-help.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const plugin = new Plugin({ root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true, isRoot: true });
await plugin.load();
const commands = Object.keys(plugin.manifest.commands);
if (commands.length === 0) throw new Error('manifest: no commands found under dist/commands; did tsc run?');
await writeFile(new URL('../oclif.manifest.json', import.meta.url), JSON.stringify(plugin.manifest, null, 2) + '\n');
checkStatusFastPath(plugin.manifest.commands.status?.flags ?? {});
checkDaemonFastPath(plugin.manifest.commands.daemon?.flags ?? {});
console.log(`oclif.manifest.json: ${commands.length} commands (${commands.join(', ')})`);
// The root help is made from the manifest: rendered (by oclif) after it.
writeRootHelp(root);
console.log('dist/cli/root-help.json: the root help for bin/run.cjs\'s fast path');

/**
 * bin/run.cjs runs `hvvss status` without oclif (src/cli/status-fast.ts), from its own table of the
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

interface ManifestFlag {
  type: string;
  char?: string;
  env?: string;
  multiple?: boolean;
  dependsOn?: string[];
  options?: readonly string[];
  default?: unknown;
  hasDynamicHelp?: boolean;
}

/**
 * bin/run.cjs runs `hvvss daemon` without oclif too (src/cli/daemon-fast.ts), and there a flag read
 * differently would change what the daemon does, not only how a command prints: every property
 * that decides how a command line reads (type, letter, variable, repeatable, dependencies, allowed
 * values, default) must match, or the build fails. A path's default is
 * this OS's in the fast path and a description of both OSes' in the manifest: compared by
 * src/cli/flags.ts's own function, not here.
 */
function checkDaemonFastPath(flags: Record<string, ManifestFlag>): void {
  const row = (name: string, f: ManifestFlag | FastFlag, fast: boolean): string => {
    const isFast = (x: ManifestFlag | FastFlag): x is FastFlag => fast;
    const dflt = isFast(f) ? (f.osDefault ? 'os' : f.default?.()) : f.hasDynamicHelp && f.type === 'option' && f.default !== undefined ? 'os' : f.default;
    return [name, f.type, f.char ?? '', f.env ?? '', f.type === 'option' ? String(f.multiple ?? false) : '', (f.dependsOn ?? []).join('+'), (f.options ?? []).join('|'), JSON.stringify(dflt ?? null)].join(':');
  };
  const manifest = Object.entries(flags).map(([name, f]) => row(name, f, false)).sort();
  const fast = Object.entries(DAEMON_FLAGS).map(([name, f]) => row(name, f, true)).sort();
  const onlyManifest = manifest.filter((r) => !fast.includes(r));
  const onlyFast = fast.filter((r) => !manifest.includes(r));
  if (onlyManifest.length > 0 || onlyFast.length > 0) {
    throw new Error(`manifest: the daemon command's flags differ from src/cli/daemon-fast.ts DAEMON_FLAGS: command has ${onlyManifest.join(' ') || 'nothing else'}; fast path has ${onlyFast.join(' ') || 'nothing else'}. Update DAEMON_FLAGS (and parseDaemonArgs) with the command`);
  }
}
