// Shell completion through oclif's autocomplete plugin: the generated bash function completes
// hvvss's commands and flags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { hvvssRun } from '../support/process.ts';

test('bash completion completes commands and flags', async () => {
  const home = mkdtempSync(join(tmpdir(), 'hvvss-home-'));
  try {
    const env = { ...process.env, HOME: home, XDG_CACHE_HOME: join(home, '.cache') };
    // What `hvvss autocomplete bash` tells the admin to do: build the cache, add the setup line.
    const cache = await hvvssRun(['autocomplete', '--refresh-cache'], { env });
    assert.equal(cache.code, 0, cache.output);
    const setup = await hvvssRun(['autocomplete', 'script', 'bash'], { env });
    assert.equal(setup.code, 0, setup.output);
    // The setup line sources the generated function file; then ask it as bash would on <TAB>.
    const complete = (words: string[]) =>
      execFileSync('bash', ['-c', `${setup.stdout}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _hvvss_autocomplete; printf '%s\\n' "\${COMPREPLY[@]}"`], { env, encoding: 'utf8' })
        .split('\n')
        .filter(Boolean)
        .sort();
    assert.deepEqual(complete(['hvvss', 'thaw', '--ho']), ['--hook-timeout', '--hooks-dir']);
    assert.ok(complete(['hvvss', 's']).includes('simulate'));
    assert.ok(complete(['hvvss', 's']).includes('status'));
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
