// The daemon's command line read without oclif (src/cli/daemon-fast.ts) must mean what oclif reads
// from it: every command line it accepts is parsed by oclif too, from the command's own flags, and
// the two results compared. The lines rc.d and the bench run must be accepted (or the daemon would
// load oclif again, unnoticed); anything unusual must be left to oclif.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { Parser } from '@oclif/core';
import Daemon from '../../src/commands/daemon.ts';
import { parseDaemonArgs } from '../../src/cli/daemon-fast.ts';
import { NO_FS_DEVICE, FS_DEVICE } from '../../src/daemon/fs-device.ts';
import { daemonOptionsProblem } from '../../src/daemon/daemon-main.ts';

const rcd = ['-n', '--syslog', '--device', '/dev/hv_appvss_dev', '--hooks-dir', '/usr/local/etc/hvvss/hooks.d', '--pidfile', '/var/run/hvvss/hvvss.pid', '--socket', '/var/run/hvvss/hvvss.sock'];

const accepted: Array<{ args: string[]; env?: NodeJS.ProcessEnv }> = [
  { args: [] },
  { args: rcd },
  { args: [...rcd, '--fs-role', '--fs-device', '/dev/hv_fsvss_dev'] },
  { args: [...rcd, '--fs-role', '--fs-device', NO_FS_DEVICE, '--fs-skip', '/var', '--fs-skip', 'tmp/', '--fs-sync=/usr'] },
  { args: ['-n', '-d', '--timeout', '2', '--hook-timeout=0.3', '--kill-grace', '0.2', '--kernel-timeout', '3', '--state-dir', 'rel/state'] },
  { args: ['--foreground', '--debug', '--max-frozen', '0'] },
  { args: ['-n'], env: { HVVSS_KERNEL_TIMEOUT: '3', HVVSS_HOOKS_DIR: 'hooks', HVVSS_SOCKET: '', HVVSS_DEVICE: '/dev/x' } },
  { args: ['-n', '--fs-role'], env: { HVVSS_FSFREEZE_HELPER: 'bin/helper', HVVSS_FS_DEVICE: 'none' } },
  { args: [...rcd, '--fs-role', '--fs-remount-ro', '/boot/efi', '--fs-skip-if-busy', '/a', '--fs-sync-if-busy', '/b', '--fs-policy', 'policy'] },
  // The Linux unit's line, and the Linux protocol's own flags (the fs role is implied there).
  { args: ['--foreground'], env: { HVVSS_DEVICE: '/dev/vmbus/hv_vss', HVVSS_PIDFILE: 'run/hvvss.pid' } },
  { args: ['-n', '--protocol', 'linux', '--freeze-timeout', '20', '--fs-include', '/data'] },
  { args: ['-n'], env: { HVVSS_PROTOCOL: 'freebsd' } },
];

const refused: Array<{ args: string[]; env?: NodeJS.ProcessEnv; why: string }> = [
  { args: ['-h'], why: 'help is oclif’s' },
  { args: ['--help'], why: 'help is oclif’s' },
  { args: ['-nd'], why: 'grouped short flags' },
  { args: ['-n', '-n'], why: 'repeated boolean' },
  { args: ['--device', '/a', '--device', '/b'], why: 'repeated option' },
  { args: ['--timeout', 'abc'], why: 'a duration oclif refuses' },
  { args: ['--timeout', '-1'], why: 'a value that looks like a flag' },
  { args: ['--timeout'], why: 'a missing value' },
  { args: ['--nope'], why: 'an unknown flag' },
  { args: ['extra'], why: 'an argument' },
  { args: ['--protocol', 'windows'], why: 'a value oclif refuses (it names the ones it takes)' },
  { args: ['-n'], env: { HVVSS_PROTOCOL: 'bsd' }, why: 'a variable oclif refuses' },
  { args: ['--fs-role', '--fs-skip', '/a', '/b'], why: 'a bare word after a repeatable flag' },
  { args: ['--syslog=true'], why: 'a value given to a boolean' },
  { args: ['-n'], env: { HVVSS_KERNEL_TIMEOUT: 'x' }, why: 'a variable oclif refuses' },
];

/** What oclif reads from ARGS with the command's own flags (its variables from ENV). */
async function oclifReads(args: string[], env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  const saved = { ...process.env };
  for (const key of Object.keys(process.env)) if (key.startsWith('HVVSS_')) delete process.env[key];
  Object.assign(process.env, env);
  try {
    const { flags } = await Parser.parse(args, { flags: Daemon.flags, strict: true, context: undefined as never });
    return flags;
  } finally {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  }
}

/** Both results with oclif's unset booleans (undefined) and ours (false) alike. */
const comparable = (flags: object) =>
  Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined && v !== false));

test('the command lines rc.d and the bench run are read without oclif, exactly as oclif reads them', async () => {
  for (const { args, env = {} } of accepted) {
    const fast = parseDaemonArgs(args, env);
    assert.ok(fast, `read without oclif: ${args.join(' ')}`);
    assert.deepEqual(comparable(fast), comparable(await oclifReads(args, env)), args.join(' '));
  }
});

test('paths come out absolute and the fs device keeps "none"', () => {
  const options = parseDaemonArgs(['--state-dir', 'rel', '--fs-role', '--fs-device', NO_FS_DEVICE], {});
  assert.equal(options?.['state-dir'], resolve('rel'));
  assert.equal(options?.['fs-device'], NO_FS_DEVICE);
  assert.equal(parseDaemonArgs([], {})?.['fs-device'], FS_DEVICE);
});

test('anything unusual is left to oclif, which prints the usage or the error', () => {
  for (const { args, env = {}, why } of refused) {
    assert.equal(parseDaemonArgs(args, env), undefined, `${why}: ${args.join(' ')}`);
  }
});

test('options that do not go together are a usage problem for both entries', () => {
  // FreeBSD's limits (the default device on Linux speaks the Linux protocol, with its own).
  const options = parseDaemonArgs(['--device', '/dev/hv_appvss_dev', '--timeout', '3', '--kernel-timeout', '3'], {});
  assert.ok(options);
  assert.match(daemonOptionsProblem(options) ?? '', /--timeout 3 must be below the kernel's limit of 3 s/);
  const grace = parseDaemonArgs(['--timeout', '1', '--kill-grace', '1'], {});
  assert.ok(grace);
  assert.match(daemonOptionsProblem(grace) ?? '', /--kill-grace 1 must be shorter than --timeout 1/);
  // The fs flags need --fs-role on FreeBSD's protocol only (Linux's always freezes file systems).
  const fsWithoutRole = parseDaemonArgs(['--device', '/dev/hv_appvss_dev', '--fs-skip', '/var'], {});
  assert.ok(fsWithoutRole);
  assert.match(daemonOptionsProblem(fsWithoutRole) ?? '', /--fs-skip needs --fs-role/);
  const helperWithoutRole = parseDaemonArgs(['--protocol', 'freebsd'], { HVVSS_FSFREEZE_HELPER: '/x' });
  assert.ok(helperWithoutRole);
  assert.match(daemonOptionsProblem(helperWithoutRole) ?? '', /--fs-helper needs --fs-role/);
  const linux = parseDaemonArgs(['--device', '/dev/vmbus/hv_vss', '--fs-skip', '/var'], {});
  assert.ok(linux);
  assert.equal(daemonOptionsProblem(linux), undefined);
  const late = parseDaemonArgs(['--protocol', 'linux', '--freeze-timeout', '60', '--max-frozen', '60'], {});
  assert.ok(late);
  assert.match(daemonOptionsProblem(late) ?? '', /--freeze-timeout 60 must be shorter than --max-frozen 60/);
});
