// rc.d/hvvss, the shipped script unchanged, run through its start, status and stop paths with
// stand-ins for rc.subr(8) and daemon(8) (test/admin/rc-standin/), starting the real hvvss daemon
// against the emulator.
import { DAEMON_NODE_FLAGS } from '../../src/state/paths.ts';
import { missing } from '../support/requirements.ts';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator, type RunningEmulator } from '../../src/emulator/host-client.ts';
import { HVVSS_BIN, within } from '../support/process.ts';
import { hooksFixture, RECORD, type HooksFixture } from '../support/hooks-dir.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';

const RC_SCRIPT = fileURLToPath(new URL('../../rc.d/hvvss', import.meta.url));
const STANDIN = fileURLToPath(new URL('./rc-standin/', import.meta.url));

let emu: RunningEmulator;
const defer = cleanupsPerTest();

before(async () => {
  emu = await startEmulator({ timeoutMs: 5_000 });
});
after(async () => {
  await emu?.stop();
});

interface RcSetup {
  fx: HooksFixture;
  rundir: string;
  /** Arguments daemon(8) got, one per element, over all its runs. */
  daemonArgs(): string[];
  /** What the supervised command printed (daemon(8) would send it to syslog). */
  output(): string;
  rc(arg: string): { code: number | null; stdout: string; stderr: string };
}

function rcSetup(conf: Record<string, string> = {}): RcSetup {
  const fx = hooksFixture({ '10-a': RECORD });
  const rundir = join(fx.root, 'run');
  const daemonLog = join(fx.root, 'daemon.args');
  const rcConf = join(fx.root, 'rc.conf');
  const settings: Record<string, string> = {
    hvvss_enable: 'YES',
    hvvss_program: join(STANDIN, 'daemon'),
    hvvss_node: process.execPath,
    hvvss_script: HVVSS_BIN,
    hvvss_device: emu.appDevice,
    hvvss_hooks_dir: fx.dir,
    hvvss_rundir: rundir,
    hvvss_flags: `--state-dir ${join(fx.root, 'state')} --kernel-timeout 5 --timeout 3 --hook-timeout 2`,
    ...conf,
  };
  writeFileSync(rcConf, Object.entries(settings).map(([k, v]) => `${k}="${v}"\n`).join(''));
  const setup: RcSetup = {
    fx,
    rundir,
    daemonArgs: () => (existsSync(daemonLog) ? readFileSync(daemonLog, 'utf8').split('\n').filter(Boolean) : []),
    output: () => (existsSync(`${daemonLog}.out`) ? readFileSync(`${daemonLog}.out`, 'utf8') : ''),
    rc(arg) {
      // As service(8) runs it: a clean environment with rc's PATH (no /usr/local/bin).
      const result = spawnSync('/bin/sh', [RC_SCRIPT, arg], {
        encoding: 'utf8',
        timeout: 20_000,
        env: {
          PATH: '/sbin:/bin:/usr/sbin:/usr/bin',
          HOME: '/',
          HVVSS_RC_SUBR: join(STANDIN, 'rc.subr'),
          RC_CONF: rcConf,
          DAEMON_STANDIN_LOG: daemonLog,
        },
      });
      return { code: result.status, stdout: result.stdout, stderr: result.stderr };
    },
  };
  defer(() => fx.cleanup());
  // Whatever a failing test leaves running: the supervisor's pidfile names it.
  defer(() => {
    const pidfile = join(rundir, 'daemon.pid');
    if (existsSync(pidfile)) setup.rc('stop');
  });
  return setup;
}

async function lastSeq(): Promise<number> {
  return (await emu.host.events()).at(-1)?.seq ?? 0;
}

test('the script is POSIX sh and shellcheck-clean', (t) => {
  const syntax = spawnSync('sh', ['-n', RC_SCRIPT], { encoding: 'utf8' });
  assert.equal(syntax.status, 0, syntax.stderr);
  const found = spawnSync('shellcheck', ['--version'], { encoding: 'utf8' });
  if (found.error) return missing(t, 'shellcheck is not installed (apt-get install shellcheck)');
  const lint = spawnSync('shellcheck', [RC_SCRIPT], { encoding: 'utf8' });
  assert.equal(lint.status, 0, lint.stdout + lint.stderr);
});

test('start runs hvvss daemon under daemon(8), status reports it, stop thaws and waits for it', async () => {
  const rc = rcSetup();
  const seq = await lastSeq();
  const start = rc.rc('start');
  assert.equal(start.code, 0, start.stdout + start.stderr);
  assert.match(start.stdout, /Starting hvvss\./);

  // What daemon(8) was asked to do: supervise with restart, its own pidfile, syslog, the full paths.
  const args = rc.daemonArgs();
  const daemonPart = args.slice(0, args.indexOf(process.execPath));
  assert.ok(daemonPart.includes('-r'), `restart on exit (-r): ${args.join(' ')}`);
  assert.deepEqual(daemonPart.slice(daemonPart.indexOf('-P'), daemonPart.indexOf('-P') + 2), ['-P', join(rc.rundir, 'daemon.pid')]);
  assert.ok(daemonPart.includes('-S'), 'output to syslog');
  assert.deepEqual(args.slice(args.indexOf(process.execPath), args.indexOf(process.execPath) + 7), [process.execPath, ...DAEMON_NODE_FLAGS, HVVSS_BIN, 'daemon', '-n']);
  const hvvssPart = args.slice(args.indexOf('daemon', args.indexOf(HVVSS_BIN)));
  const flag = (name: string) => hvvssPart[hvvssPart.indexOf(name) + 1];
  assert.equal(flag('--pidfile'), join(rc.rundir, 'hvvss.pid'), 'hvvss locks its own pidfile, not the supervisor\'s');
  assert.equal(flag('--hooks-dir'), rc.fx.dir);
  assert.equal(flag('--device'), emu.appDevice);
  assert.equal(flag('--state-dir'), join(rc.fx.root, 'state'), 'hvvss_flags go to hvvss, after its other flags');
  assert.ok(!daemonPart.includes('--state-dir'), 'hvvss_flags must not reach daemon(8)');

  await emu.host.waitForEvent((e) => e.kind === 'open' && e.side === 'app' && e.seq > seq);
  const status = rc.rc('status');
  assert.equal(status.code, 0, status.stdout + status.stderr);
  const supervisor = Number(readFileSync(join(rc.rundir, 'daemon.pid'), 'utf8'));
  assert.match(status.stdout, new RegExp(`hvvss is running as pid ${supervisor}\\.`));

  const again = rc.rc('start');
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already running/);

  assert.equal((await emu.host.request('check')).result, 'success', rc.output());
  assert.equal((await emu.host.request('freeze')).result, 'success', rc.output());
  const beforeStop = await lastSeq();
  // Stopped while frozen (as at shutdown): the daemon thaws, then the supervisor and hvvss are gone.
  const stop = rc.rc('stop');
  assert.equal(stop.code, 0, stop.stdout + stop.stderr);
  assert.match(stop.stdout, /Stopping hvvss\./);
  assert.deepEqual(rc.fx.log(), ['10-a check host', '10-a freeze host', '10-a thaw shutdown']);
  await within(emu.host.waitForEvent((e) => e.kind === 'release' && e.side === 'app' && e.seq > beforeStop), 5_000, 'the daemon to unregister');
  assert.ok(!existsSync(join(rc.rundir, 'daemon.pid')), 'the supervisor removed its pidfile');
  assert.ok(!existsSync(join(rc.rundir, 'hvvss.pid')), 'hvvss removed its pidfile');
  assert.match(rc.output(), /unregistered; exiting/);

  const stopped = rc.rc('status');
  assert.equal(stopped.code, 1);
  assert.match(stopped.stdout, /hvvss is not running\./);
});

test('start refuses with a clear message when the VSS device is absent', () => {
  const rc = rcSetup({ hvvss_device: '/nonexistent/hv_appvss_dev' });
  const start = rc.rc('start');
  assert.equal(start.code, 1);
  assert.match(start.stderr, /\/nonexistent\/hv_appvss_dev does not exist: hv_vss\(4\) is not attached/);
  assert.match(start.stderr, /Not starting hvvss/);
  assert.deepEqual(rc.daemonArgs(), [], 'daemon(8) never ran');
});

test('start refuses when Node.js or hvvss is missing, naming the rc.conf variable', () => {
  const noNode = rcSetup({ hvvss_node: '/nonexistent/node' }).rc('start');
  assert.equal(noNode.code, 1);
  assert.match(noNode.stderr, /\/nonexistent\/node is missing: install Node\.js \(pkg install node24\) or set hvvss_node/);
  const noScript = rcSetup({ hvvss_script: '/nonexistent/run.js' }).rc('start');
  assert.equal(noScript.code, 1);
  assert.match(noScript.stderr, /\/nonexistent\/run\.js is missing: install hvvss \(npm install -g\) or set hvvss_script/);
});

test('not enabled: start does nothing and says how to enable it; the defaults are FreeBSD\'s paths', () => {
  const rc = rcSetup({ hvvss_enable: 'NO' });
  const start = rc.rc('start');
  assert.equal(start.code, 0);
  assert.match(start.stdout, /Set hvvss_enable to YES in \/etc\/rc\.conf/);
  assert.deepEqual(rc.daemonArgs(), []);
  const text = readFileSync(RC_SCRIPT, 'utf8');
  for (const line of [
    '# REQUIRE: syslogd', '# KEYWORD: shutdown', 'command=/usr/sbin/daemon', '. "${HVVSS_RC_SUBR:-/etc/rc.subr}"',
    ': "${hvvss_hooks_dir:=/usr/local/etc/hvvss/hooks.d}"', ': "${hvvss_device:=/dev/hv_appvss_dev}"',
    ': "${hvvss_node:=/usr/local/bin/node}"', ': "${hvvss_script:=/usr/local/lib/node_modules/hvvss/bin/run.js}"',
    ': "${hvvss_rundir:=/var/run/hvvss}"',
  ]) {
    assert.ok(text.split('\n').includes(line), `rc.d/hvvss has the line ${line}`);
  }
});
