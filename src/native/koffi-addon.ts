// koffi, loaded as its prebuilt addon. koffi's own entry (koffi/index.js) adds nothing hvvss uses
// (deprecation wrappers around old names, through node:util, and a search for the addon); but
// importing node:util pulls in Node's streams, worker_threads and readline, about 5 MiB of a
// resident daemon's memory on every VM (docs/benchmarks.md, Footprint). So the addon is opened
// directly where koffi's platform package puts it, and only when it is the version of the koffi
// package installed; anywhere else (another layout, a musl system, a newer koffi) koffi's entry
// loads it as usual. test/native/koffi-addon.test.ts fails when this platform stops taking the
// direct path.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type koffiModule from 'koffi';

export type Koffi = typeof koffiModule;

/** The addon's directory in koffi's platform package: the C library it was built for. */
function tripletDir(): string | undefined {
  if (process.platform === 'freebsd') return `freebsd_${process.arch}`;
  // hvvss binds glibc's libc.so.6 on Linux (platform.ts): the glibc build; on musl it fails to
  // open and koffi's entry picks its musl build.
  if (process.platform === 'linux') return `linux_${process.arch}`;
  return undefined;
}

/** Where the addon is, and the koffi version it must report; undefined when not laid out as expected. */
export function directAddonPath(): { path: string; version: string } | undefined {
  const triplet = tripletDir();
  if (triplet === undefined) return undefined;
  try {
    // koffi's exports map hides its package.json; its CommonJS entry sits beside it.
    const koffiPackage = join(dirname(createRequire(import.meta.url).resolve('koffi')), 'package.json');
    const version = (JSON.parse(readFileSync(koffiPackage, 'utf8')) as { version?: unknown }).version;
    if (typeof version !== 'string') return undefined;
    // Resolved from koffi's own directory, where npm installs its optional dependencies.
    const platformPackage = createRequire(koffiPackage).resolve(`@koromix/koffi-${process.platform}-${process.arch}/package.json`);
    return { path: join(dirname(platformPackage), triplet, 'koffi.node'), version };
  } catch {
    return undefined;
  }
}

/** The addon opened directly, or undefined to fall back on koffi's entry. */
function loadDirect(): Koffi | undefined {
  const where = directAddonPath();
  if (where === undefined) return undefined;
  const module = { exports: {} as Partial<Koffi> & { version?: unknown } };
  try {
    process.dlopen(module, where.path);
  } catch {
    return undefined;
  }
  return module.exports.version === where.version ? (module.exports as Koffi) : undefined;
}

const direct = loadDirect();

/** Whether the addon was opened directly (the daemon's memory figure depends on it). */
export const loadedDirectly: boolean = direct !== undefined;

// koffi's entry is CommonJS: required, not imported, so that this module has no top-level await
// and bundles as CommonJS too (the daemon's bundle, scripts/build.ts).
export const koffi: Koffi = direct ?? (createRequire(import.meta.url)('koffi') as Koffi);
