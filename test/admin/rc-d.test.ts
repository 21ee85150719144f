// rc.d/hvvss run through its start, status and stop paths with stand-ins for rc.subr(8), daemon(8)
// and pwait(1) (test/admin/rc-standin/), starting the real hvvss daemon against the emulator. The
// script runs as a copy that differs only in sourcing the stand-in instead of /etc/rc.subr; what
// hvvss sends to syslog(3) is caught in a mount namespace (syslog-capture.ts).
import { DAEMON_NODE_FLAGS } from '../../src/state/paths.ts';
import { missing } from '../support/requirements.ts';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator, type RunningEmulator } from '../../src/emulator/host-client.ts';
import { HVVSS_BIN, within } from '../support/process.ts';
import { hooksFixture, RECORD, type HooksFixture } from '../support/hooks-dir.ts';
import { cleanupsPerTest } from '../support/cleanups.ts';
import { FACILITY, format, SEVERITY, SyslogCapture } from './syslog-capture.ts';

const RC_SCRIPT = fileURLToPath(new URL('../../rc.d/hvvss', import.meta.url));
const STANDIN = fileURLToPath(new URL('./rc-standin/', import.meta.url));
const SOURCE_RC_SUBR = '. /etc/rc.subr';

let emu: RunningEmulator;
let syslog: SyslogCapture;
let scratch: string;
/** rc.d/hvvss with the stand-in rc.subr sourced instead of /etc/rc.subr: the only difference. */
let rcScript: string;
const defer = cleanupsPerTest();

before(async () => {
  emu = await startEmulator({ timeoutMs: 5_000 });
  syslog = await SyslogCapture.start();
  scratch = mkdtempSync(join(tmpdir(), 'hvvss-rc-'));
  rcScript = join(scratch, 'hvvss');
  const lines = readFileSync(RC_SCRIPT, 'utf8').split('\n');
  assert.equal(lines.filter((l) => l === SOURCE_RC_SUBR).length, 1, `rc.d/hvvss sources rc.subr as "${SOURCE_RC_SUBR}"`);
  writeFileSync(rcScript, lines.map((l) => (l === SOURCE_RC_SUBR ? `. '${join(STANDIN, 'rc.subr')}'` : l)).join('\n'));
  copyFileSync(join(STANDIN, 'pwait'), join(scratch, 'pwait'));
});
after(async () => {
  await emu?.stop();
  await syslog?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

interface RcSetup {
  fx: HooksFixture;
  rundir: string;
  /** Arguments daemon(8) got, one per element, over all its runs. */
  daemonArgs(): string[];
  /** What the supervised command printed (daemon(8) would send it to syslog at err). */
  output(): string;
  /** Runs the script; `start` runs where hvvss's syslog(3) lines reach `syslog`. */
  rc(arg: string): { code: number | null; stdout: string; stderr: string };
}

// The thaw takes a moment, so that a stop returning before hvvss has exited would be seen.
const SLOW_THAW = `${RECORD}\n[ "$1" != thaw ] || sleep 1`;

function rcSetup(conf: Record<string, string> = {}): RcSetup {
  const fx = hooksFixture({ '10-a': SLOW_THAW });
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
      // As service(8) runs it: a clean environment with rc's PATH (no /usr/local/bin), plus the
      // directory of the pwait(1) stand-in (Linux has none).
      const argv = ['/bin/sh', rcScript, arg];
      const [command, ...args] = arg === 'start' ? syslog.wrap(argv) : argv;
      const result = spawnSync(command!, args, {
        encoding: 'utf8',
        timeout: 80_000,
        env: {
          PATH: `${scratch}:/sbin:/bin:/usr/sbin:/usr/bin`,
          HOME: '/',
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
  if (found.error) return missing(t, 'shellcheck is not installed (apt-get install shellcheck; npm test installs it when run as root)');
  const lint = spawnSync('shellcheck', [RC_SCRIPT], { encoding: 'utf8' });
  assert.equal(lint.status, 0, lint.stdout + lint.stderr);
});

test('start runs hvvss daemon under daemon(8), status reports it, stop thaws and waits for it', async () => {
  const rc = rcSetup();
  const seq = await lastSeq();
  const start = rc.rc('start');
  assert.equal(start.code, 0, start.stdout + start.stderr);
  assert.match(start.stdout, /Starting hvvss\./);

  // What daemon(8) was asked to do: supervise with restart, its own pidfile, stray output to
  // syslog at err (hvvss logs through syslog(3) itself), the full paths.
  const args = rc.daemonArgs();
  const daemonPart = args.slice(0, args.indexOf(process.execPath));
  const after = (flag: string) => daemonPart.slice(daemonPart.indexOf(flag), daemonPart.indexOf(flag) + 2);
  assert.deepEqual(after('-R'), ['-R', '5'], `restart after 5 s: ${args.join(' ')}`);
  assert.ok(!daemonPart.includes('-r'), '-r is redundant with -R');
  assert.deepEqual(after('-P'), ['-P', join(rc.rundir, 'daemon.pid')]);
  assert.ok(daemonPart.includes('-S'), 'what hvvss prints (a crash) goes to syslog');
  assert.deepEqual(after('-s'), ['-s', 'err'], '... at err');
  assert.deepEqual(args.slice(args.indexOf(process.execPath), args.indexOf(process.execPath) + 5 + DAEMON_NODE_FLAGS.length), [process.execPath, ...DAEMON_NODE_FLAGS, HVVSS_BIN, 'daemon', '-n', '--syslog']);
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
  // Stopped while frozen (as at shutdown): daemon(8) passes SIGTERM on and exits at once; stop
  // returns only when hvvss has thawed and exited.
  const stop = rc.rc('stop');
  assert.equal(stop.code, 0, stop.stdout + stop.stderr);
  assert.match(stop.stdout, /Stopping hvvss\./);
  assert.deepEqual(rc.fx.log(), ['10-a check host', '10-a freeze host', '10-a thaw shutdown']);
  assert.ok(!existsSync(join(rc.rundir, 'daemon.pid')), 'the supervisor removed its pidfile');
  assert.ok(!existsSync(join(rc.rundir, 'hvvss.pid')), 'hvvss removed its pidfile before stop returned');
  await within(emu.host.waitForEvent((e) => e.kind === 'release' && e.side === 'app' && e.seq > beforeStop), 5_000, 'the daemon to unregister');

  // Its lines went to syslog(3) itself, facility daemon, each at its own priority; nothing through daemon(8).
  const started = await syslog.waitFor((m) => m.tag === 'hvvss' && m.text.startsWith('hvvss daemon starting; pid '), 5_000, 'at start');
  const exiting = await syslog.waitFor((m) => m.pid === started.pid && m.text === 'unregistered; exiting', 5_000, 'at exit');
  const ours = syslog.messages.filter((m) => m.pid === started.pid);
  assert.deepEqual([exiting.facility, exiting.severity], [FACILITY.daemon, SEVERITY.info], format(exiting));
  assert.ok(ours.some((m) => m.text.startsWith('SIGTERM received') && m.severity === SEVERITY.info), ours.map(format).join('\n'));
  assert.equal(rc.output(), '', 'hvvss printed nothing for daemon(8) to pass on');

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

test('a daemon that cannot start says why once, in syslog at err, and nothing through daemon(8)', async () => {
  const rc = rcSetup();
  const blocker = join(rc.fx.root, 'not-a-directory');
  writeFileSync(blocker, '');
  writeFileSync(join(rc.fx.root, 'rc.conf'), `hvvss_flags="--state-dir ${join(blocker, 'state')} --kernel-timeout 5 --timeout 3 --hook-timeout 2"\n`, { flag: 'a' });
  const start = rc.rc('start');
  assert.equal(start.code, 0, 'daemon(8) started; hvvss itself failed');
  const failed = await syslog.waitFor((m) => m.tag === 'hvvss' && m.text.includes(`cannot use the state directory ${join(blocker, 'state')}`), 10_000, 'with the start-up error');
  assert.deepEqual([failed.facility, failed.severity], [FACILITY.daemon, SEVERITY.err], format(failed));
  assert.equal(syslog.messages.filter((m) => m.pid === failed.pid && m.severity === SEVERITY.err).length, 1, 'said once');
  const supervisor = join(rc.rundir, 'daemon.pid');
  await within(new Promise<void>((resolve) => {
    const poll = () => (existsSync(supervisor) ? setImmediate(poll) : resolve());
    poll();
  }), 10_000, 'the supervisor to see hvvss exit');
  assert.equal(rc.output(), '', 'not printed for daemon(8) to log a second time');
});

test('start warns while hv_vss_daemon is not running, and says how to start it', async (t) => {
  const rc = rcSetup({ hvvss_device: '/nonexistent/hv_appvss_dev' });
  const warning = /hv_vss_daemon is not running: every host backup fails until it runs\. Start it with \/usr\/sbin\/hv_vss_daemon\./;
  if (spawnSync('pgrep', ['-x', 'hv_vss_daemon']).status === 0) {
    t.diagnostic('an hv_vss_daemon runs on this machine: the warning case is not checked');
  } else {
    assert.match(rc.rc('start').stderr, warning);
  }
  // A process of that name (pgrep -x matches the command name), as devd starts it at boot.
  const fake = join(rc.fx.root, 'hv_vss_daemon');
  copyFileSync('/bin/sleep', fake);
  chmodSync(fake, 0o755);
  const running = spawn(fake, ['60'], { stdio: 'ignore' });
  defer(() => void running.kill());
  await once(running, 'spawn');
  const start = rc.rc('start');
  assert.doesNotMatch(start.stderr, warning);
  assert.match(start.stderr, /does not exist: hv_vss\(4\) is not attached/, 'the device check still runs');
});

test('start refuses when Node.js or hvvss is missing, naming the rc.conf variable', () => {
  const noNode = rcSetup({ hvvss_node: '/nonexistent/node' }).rc('start');
  assert.equal(noNode.code, 1);
  assert.match(noNode.stderr, /\/nonexistent\/node is missing: install Node\.js \(pkg install node24\) or set hvvss_node/);
  const noScript = rcSetup({ hvvss_script: '/nonexistent/run.js' }).rc('start');
  assert.equal(noScript.code, 1);
  assert.match(noScript.stderr, /\/nonexistent\/run\.js is missing: install hvvss \(pkg install hvvss\) or set hvvss_script/);
});

test('not enabled: start does nothing and says how to enable it; the defaults are FreeBSD\'s paths', () => {
  const rc = rcSetup({ hvvss_enable: 'NO' });
  const start = rc.rc('start');
  assert.equal(start.code, 0);
  assert.match(start.stdout, /Set hvvss_enable to YES in \/etc\/rc\.conf/);
  assert.deepEqual(rc.daemonArgs(), []);
  const text = readFileSync(RC_SCRIPT, 'utf8');
  for (const line of [
    '# REQUIRE: LOGIN', '# KEYWORD: nojail shutdown', 'command=/usr/sbin/daemon', SOURCE_RC_SUBR,
    ': "${hvvss_hooks_dir:=/usr/local/etc/hvvss/hooks.d}"', ': "${hvvss_device:=/dev/hv_appvss_dev}"',
    ': "${hvvss_node:=/usr/local/bin/node}"', ': "${hvvss_script:=/usr/local/lib/node_modules/hvvss/bin/run.cjs}"',
    ': "${hvvss_rundir:=/var/run/hvvss}"',
  ]) {
    assert.ok(text.split('\n').includes(line), `rc.d/hvvss has the line ${line}`);
  }
});

test('hvvss_fs_enable: start stops hv_vss_daemon first, then runs hvvss with the fs role on the fs device; stop unregisters both', async () => {
  // The emulator's stand-in fs daemon holds the fs device: it goes, as hv_vss_daemon would.
  await emu.host.fsDaemon('stop');
  defer(() => emu.host.fsDaemon('success'));
  const rc = rcSetup({ hvvss_fs_enable: 'YES', hvvss_fs_device: emu.fsDevice });
  // A process of that name (pgrep -x matches the command name), as devd starts it at boot.
  const fake = join(rc.fx.root, 'hv_vss_daemon');
  copyFileSync('/bin/sleep', fake);
  chmodSync(fake, 0o755);
  const running = spawn(fake, ['60'], { stdio: 'ignore' });
  defer(() => void running.kill('SIGKILL'));
  await once(running, 'spawn');
  const gone = once(running, 'exit');
  const seq = await lastSeq();
  const start = rc.rc('start');
  assert.equal(start.code, 0, start.stdout + start.stderr);
  assert.match(start.stdout, new RegExp(`Stopping hv_vss_daemon \\(pid ${running.pid}\\): hvvss takes the fs role`));
  assert.doesNotMatch(start.stderr, /hv_vss_daemon is not running/);
  assert.deepEqual(await within(gone, 5_000, 'hv_vss_daemon to be stopped'), [null, 'SIGTERM']);
  const args = rc.daemonArgs();
  const hvvssPart = args.slice(args.indexOf('daemon', args.indexOf(HVVSS_BIN)));
  assert.ok(hvvssPart.includes('--fs-role'), args.join(' '));
  assert.equal(hvvssPart[hvvssPart.indexOf('--fs-device') + 1], emu.fsDevice);
  await within(emu.host.waitForEvent((e) => e.kind === 'open' && e.side === 'fs' && e.seq > seq), 10_000, 'hvvss to register on the fs device');
  await within(emu.host.waitForEvent((e) => e.kind === 'open' && e.side === 'app' && e.seq > seq), 10_000, 'hvvss to register on the app device');
  const beforeStop = await lastSeq();
  const stop = rc.rc('stop');
  assert.equal(stop.code, 0, stop.stdout + stop.stderr);
  await within(emu.host.waitForEvent((e) => e.kind === 'release' && e.side === 'fs' && e.seq > beforeStop), 5_000, 'the fs device to be released');
  await within(emu.host.waitForEvent((e) => e.kind === 'release' && e.side === 'app' && e.seq > beforeStop), 5_000, 'the app device to be released');
});

test('hvvss_fs_enable defaults to NO: no --fs-role, and the fs device default is FreeBSD\'s', () => {
  const text = readFileSync(RC_SCRIPT, 'utf8');
  assert.match(text, /: "\$\{hvvss_fs_enable:=NO\}"/);
  assert.match(text, /: "\$\{hvvss_fs_device:=\/dev\/hv_fsvss_dev\}"/);
});
