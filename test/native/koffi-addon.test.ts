import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { directAddonPath, loadedDirectly } from '../../src/native/koffi-addon.ts';

test('koffi is opened as its prebuilt addon here, without its entry module', () => {
  // If this fails after a koffi upgrade, koffi-addon.ts falls back on koffi's entry: the daemon
  // still works, with a few MiB more (docs/benchmarks.md, Footprint).
  assert.equal(loadedDirectly, true, `direct path: ${JSON.stringify(directAddonPath())}`);
  const version = (JSON.parse(readFileSync(new URL('../../node_modules/koffi/package.json', import.meta.url), 'utf8')) as { version: string }).version;
  assert.equal(directAddonPath()?.version, version);
});
