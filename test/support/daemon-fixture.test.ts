// The daemon fixture's command line: a test's flag replaces the file's default of the same name,
// repeatable flags add up, and the paths are the ones status is pointed at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { daemonCommandLine, runPaths } from './daemon-fixture.ts';

const line = { device: '/emu/dev/hv_appvss_dev', hooksDir: '/t/hooks.d', root: '/t', defaults: { '--timeout': '2', '--hook-timeout': '1' } };

test('the defaults, then the file\'s flags, then the test\'s; a test\'s flag replaces the default of that name', () => {
  assert.deepEqual(daemonCommandLine({ ...line, flags: ['--fs-include', '/a'], extra: ['--hook-timeout', '5', '--fs-include', '/c'] }), [
    'daemon', '-n', '--device', '/emu/dev/hv_appvss_dev', '--hooks-dir', '/t/hooks.d', ...runPaths('/t'),
    '--timeout', '2', '--fs-include', '/a', '--hook-timeout', '5', '--fs-include', '/c',
  ]);
});

test('--fs-device and the state directory when given; status is pointed at the same paths', () => {
  const args = daemonCommandLine({ ...line, fsDevice: '/emu/dev/hv_fsvss_dev', stateDir: '/mnt/a/state' });
  assert.deepEqual(args.slice(0, 6), ['daemon', '-n', '--device', '/emu/dev/hv_appvss_dev', '--fs-device', '/emu/dev/hv_fsvss_dev']);
  assert.deepEqual(runPaths('/t', '/mnt/a/state'), ['--pidfile', '/t/run/hvvss.pid', '--socket', '/t/run/hvvss.sock', '--state-dir', '/mnt/a/state']);
  for (const path of runPaths('/t', '/mnt/a/state')) assert.ok(args.includes(path), `${path} in ${args.join(' ')}`);
});
