// The built hvvss package copied aside for the whole run. Other engineers run `npm test` in the
// same working tree, and its build starts with `rm -rf dist`: an agent started from the tree in
// that window would fail to start, or mix two builds. The copy holds what this run built
// (bin/run.cjs, dist/, the oclif manifest, package.json); node_modules is a symlink to the tree's.
import { cpSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** Copies the built package into DIR/hvvss and returns the path of its bin/run.cjs. */
export function snapshotPackage(dir: string): string {
  if (!existsSync(join(REPO, 'dist', 'commands')) || !existsSync(join(REPO, 'oclif.manifest.json'))) {
    throw new Error('no build in the tree: run `npm run bench` (it builds first), not node bench/run.ts on a clean tree');
  }
  const root = join(dir, 'hvvss');
  mkdirSync(join(root, 'bin'), { recursive: true });
  for (const item of ['dist', 'oclif.manifest.json', 'package.json', join('bin', 'run.cjs')]) {
    cpSync(join(REPO, item), join(root, item), { recursive: true });
  }
  symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'));
  return join(root, 'bin', 'run.cjs');
}
