// `npm run build`: the shipped program as an esbuild bundle, and the emulator (a test tool, never
// shipped) compiled file by file with tsc, both under dist/.
//
// Why a bundle: every `hvvss` start otherwise resolves, reads and compiles a tree of about 200
// modules (@oclif/core and its dependencies are CommonJS files, one require() each), which was
// the larger part of `hvvss --help` and `hvvss status` (docs/benchmarks.md, CLI start). Bundled,
// each command is one entry file (dist/commands/NAME.js, so oclif's pattern strategy and its
// manifest load only the command that runs) plus shared chunks in dist/chunks/; what a command
// imports with import() only on some paths (the manual commands' progress display, say) becomes
// a chunk of its own, loaded when that path runs.
//
// Kept outside the bundle: koffi (a native addon found next to its package at run time), and
// oclif's plugins (@oclif/plugin-help, -autocomplete), which oclif loads from node_modules by
// name; they bring their own @oclif/core, loaded only when `hvvss help` or `hvvss autocomplete` runs.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile, type OutputFile, type Plugin } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(ROOT, 'dist');

/**
 * Node's built-in modules as their CommonJS objects, so that their lazy parts stay lazy. An ESM
 * import of a built-in (`import { readFileSync } from 'node:fs'`) builds a namespace of all its
 * exports, and reading them runs every lazy property: node:fs loads fs/promises with Node's
 * readline, file streams and watchers; node:util loads parseArgs, worker_threads and more. About
 * 2 MiB of a resident daemon's memory on every VM for nothing it uses (docs/benchmarks.md,
 * Footprint). In the bundle, each `import { a, b as c } from 'node:X'` of hvvss's own modules
 * becomes a module of its own over process.getBuiltinModule('node:X') that reads exactly a and b.
 * Dependencies (execa, listr2, oclif) keep Node's ESM imports: they load on the operator
 * commands' paths, not the daemon's.
 */
const builtinsReadOnDemand: Plugin = {
  name: 'builtins-read-on-demand',
  setup(b) {
    const own = join(ROOT, 'src') + '/';
    b.onResolve({ filter: /^node:[a-z_/]+$/ }, (args) =>
      // (An import() resolves to the whole module, as Node gives it: left alone.)
      // The importer relative to the checkout: chunk names hash the paths of what they hold.
      args.importer.startsWith(own) && args.kind !== 'dynamic-import' ? { path: `${args.path}|${relative(ROOT, args.importer)}`, namespace: 'builtin' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => {
      const [id, importer] = args.path.split('|') as [string, string];
      const names = importedNames(readFileSync(join(ROOT, importer), 'utf8'), id);
      const lines = [`const m = process.getBuiltinModule(${JSON.stringify(id)});`, 'export default m;', ...names.map((k) => `export const ${k} = m.${k};`)];
      return { contents: lines.join('\n'), loader: 'js' };
    });
  },
};

/** The value names `source` imports by name from `id` (types are erased; `a as b` reads a). */
function importedNames(source: string, id: string): string[] {
  const names = new Set<string>();
  const quoted = id.replace(/[/]/g, '\\/');
  for (const match of source.matchAll(new RegExp(`import\\s+(?:[\\w$]+\\s*,\\s*)?\\{([^}]*)\\}\\s*from\\s*'${quoted}'`, 'g'))) {
    for (const part of match[1]!.split(',')) {
      const words = part.trim().split(/\s+/);
      if (words[0] === '' || words[0] === 'type') continue;
      names.add(words[0]!);
    }
  }
  if (new RegExp(`import\\s+\\*\\s+as\\s+[\\w$]+\\s+from\\s*'${quoted}'`).test(source)) {
    throw new Error(`build: import * from '${id}' would read all of it; import by name or the default export`);
  }
  return [...names];
}

const commands = readdirSync(join(ROOT, 'src', 'commands')).filter((f) => f.endsWith('.ts'));

rmSync(DIST, { recursive: true, force: true });
rmSync(join(ROOT, 'oclif.manifest.json'), { force: true });

const result = await build({
  absWorkingDir: ROOT,
  entryPoints: [
    ...commands.map((f) => ({ in: `src/commands/${f}`, out: `commands/${basename(f, '.ts')}` })),
    { in: 'src/cli/run-cli.ts', out: 'cli/run-cli' },
    // ... and for the root help (`hvvss --help`), with its text from scripts/root-help.ts.
    { in: 'src/cli/help-fast.ts', out: 'cli/help-fast' },
    // keeper-client.ts starts the keeper as "./keeper-main.js" next to itself, and it is bundled
    // into a chunk: the keeper's entry goes beside the chunks (checked below).
    { in: 'src/manual/keeper-main.ts', out: 'chunks/keeper-main' },
  ],
  outdir: DIST,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22.13',
  chunkNames: 'chunks/[name]-[hash]',
  external: ['koffi', '@oclif/plugin-help', '@oclif/plugin-autocomplete'],
  plugins: [builtinsReadOnDemand],
  // @oclif/core and some of its dependencies are CommonJS and require() Node's built-ins: give
  // every output file a require of its own (ESM has none).
  // (Through getBuiltinModule too, for the reason given above the plugin.)
  banner: { js: "const require = process.getBuiltinModule('node:module').createRequire(import.meta.url);" },
  // Names stay (oclif reads command class names; stack traces stay readable); whitespace goes.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'eof',
  metafile: true,
  write: false,
  logLevel: 'warning',
  // oclif's CommonJS does require(someVariable) for plugins and hooks: expected, resolved at run time.
  logOverride: { 'unsupported-require-call': 'silent', 'unsupported-dynamic-import': 'silent' },
});

writeOutputs(result.outputFiles, result.metafile);
checkKeeperBesideItsCaller(result.metafile);

// bin/run.cjs's paths for `hvvss daemon` as rc.d starts it and `hvvss status` as monitoring runs
// it: CommonJS files of their own, since the resident daemon must not pay for Node's ESM loader
// (bin/run.cjs says why), and status starts sooner without it. Each holds its own copy of the
// modules it needs; oclif's commands (help, unusual command lines) use the ESM chunks.
const fastResult = await build({
  absWorkingDir: ROOT,
  entryPoints: [
    { in: 'src/cli/daemon-fast.ts', out: 'cli/daemon-fast' },
    { in: 'src/cli/status-fast.ts', out: 'cli/status-fast' },
  ],
  outdir: DIST,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node22.13',
  external: ['koffi'],
  plugins: [builtinsReadOnDemand],
  // CommonJS has no import.meta: the file's URL, as ESM would give it (koffi-addon.ts resolves koffi
  // from it, freeze-helper.ts the helper's source).
  define: { 'import.meta.url': 'importMetaUrl' },
  banner: { js: "'use strict';const importMetaUrl = process.getBuiltinModule('node:url').pathToFileURL(__filename).href;" },
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
});
checkFastBundles(fastResult.metafile);
// What each output holds and imports (not shipped): `npx esbuild --analyze` style questions, e.g.
// whether the daemon's entry pulls in listr2.
writeFileSync(join(DIST, 'esbuild-meta.json'), JSON.stringify(result.metafile));
writeFileSync(join(DIST, 'esbuild-meta-fast.json'), JSON.stringify(fastResult.metafile));

// The emulator (tests, demo, bench) is not part of the package: plain tsc output, module by module.
execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.emulator.json'], { cwd: ROOT, stdio: 'inherit' });

/**
 * Writes the bundle with chunk names that change only when what a chunk holds changes. esbuild
 * names chunks by a hash of their contents, so any edit would rename files, and the FreeBSD port's
 * pkg-plist (which lists every packed file) would need regenerating after every commit. Named by
 * a hash of the modules a chunk holds instead, a chunk is renamed only when the split itself
 * changes (an import added or made lazy): then run `node packaging/freebsd/plist.ts --write`.
 */
function writeOutputs(files: readonly OutputFile[], metafile: Metafile): void {
  const renames = new Map<string, string>();
  for (const [out, meta] of Object.entries(metafile.outputs)) {
    const name = basename(out, '.js');
    const hashed = /^(.+)-([A-Z0-9]{8})$/.exec(name);
    if (!hashed) continue;
    // The modules it holds; a chunk of esbuild's own helpers holds none, and its exports tell it apart.
    const held = [...Object.keys(meta.inputs).sort(), '', ...meta.exports].join('\n');
    const stable = createHash('sha256').update(held).digest('hex').slice(0, 8);
    if ([...renames.values()].includes(stable)) throw new Error(`build: two chunks would be named ${hashed[1]}-${stable}`);
    renames.set(hashed[2]!, stable);
  }
  const rename = (text: string) => text.replace(/-([A-Z0-9]{8})(?=\.js)/g, (whole, hash: string) => (renames.has(hash) ? `-${renames.get(hash)}` : whole));
  for (const file of files) {
    const path = rename(file.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, rename(file.text));
  }
  for (const [out, meta] of Object.entries(metafile.outputs)) {
    delete metafile.outputs[out];
    metafile.outputs[rename(out)] = { ...meta, imports: meta.imports.map((i) => ({ ...i, path: rename(i.path) })) };
  }
}

/**
 * Each CommonJS bundle is one file in dist/cli: a module of it that finds a file next to itself
 * (import.meta.url) would look in dist/cli. keeper-client.ts is one (the keeper's entry sits beside
 * the ESM chunks); neither the daemon nor status starts a keeper, and this keeps it so.
 */
function checkFastBundles(metafile: Metafile): void {
  for (const [out, meta] of Object.entries(metafile.outputs)) {
    const stray = Object.keys(meta.inputs).filter((i) => i.endsWith('src/manual/keeper-client.ts'));
    if (stray.length > 0) throw new Error(`build: ${out} holds ${stray.join(', ')}, which starts ./keeper-main.js next to itself; keep it off that path`);
  }
}

/** Every output file that names keeper-main must have it next to it, or "hvvss freeze" cannot start its keeper. */
function checkKeeperBesideItsCaller(metafile: Metafile): void {
  for (const out of Object.keys(metafile.outputs)) {
    if (!out.endsWith('.js')) continue;
    const file = join(ROOT, out);
    if (basename(file) === 'keeper-main.js') continue;
    if (readFileSync(file, 'utf8').includes('keeper-main') && !existsSync(join(dirname(file), 'keeper-main.js'))) {
      throw new Error(`build: ${out} starts ./keeper-main.js but the keeper was bundled elsewhere; keep keeper-client.ts in a chunk (imported by more than one command)`);
    }
  }
}
