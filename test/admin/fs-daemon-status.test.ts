// "hvvss status" says whether hv_vss_daemon(8) runs and what that means for the host's backups,
// found the way pgrep -x finds it (by command name), without changing the exit status: the fs
// daemon is not hvvss's to run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hvvssRun } from '../support/process.ts';

async function status(root: string, ...extra: string[]) {
  return hvvssRun(['status', '--socket', join(root, 'none.sock'), '--pidfile', join(root, 'none.pid'), '--state-dir', join(root, 'state'), '--hooks-dir', join(root, 'hooks'), ...extra]);
}

test('status reports hv_vss_daemon: not running (backups fail, how to start it), then running', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'hvvss-fsd-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));

  if (spawnSync('pgrep', ['-x', 'hv_vss_daemon']).status === 0) {
    t.diagnostic('an hv_vss_daemon runs on this machine: the "not running" case is not checked');
  } else {
    const down = await status(root, '--json');
    assert.equal(down.code, 1, 'exit status: the hvvss daemon is not running, nothing else');
    const report = JSON.parse(down.stdout) as { fsDaemon: { name: string; running: boolean; meaning: string } };
    assert.deepEqual(report.fsDaemon, {
      name: 'hv_vss_daemon',
      running: false,
      meaning: 'not running: every host backup fails until it runs; start it with /usr/sbin/hv_vss_daemon',
    });
  }

  // A process with that command name, as devd starts it at boot.
  const fake = join(root, 'hv_vss_daemon');
  copyFileSync('/bin/sleep', fake);
  chmodSync(fake, 0o755);
  const running = spawn(fake, ['60'], { stdio: 'ignore' });
  t.after(() => void running.kill());
  await once(running, 'spawn');

  const up = await status(root);
  assert.equal(up.code, 1);
  assert.match(up.stdout, /^fs daemon +hv_vss_daemon running: while hvvss is not running, host backups are only file-system consistent$/m);
  const metrics = await status(root, '--prometheus');
  assert.match(metrics.stdout, /^hvvss_fs_daemon_up 1$/m);
});
