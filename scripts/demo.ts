// `npm start`: the main job on a machine without Hyper-V. Starts the emulated hv_vss kernel
// (FUSE, needs root), runs `hvvss daemon` on it with the example hooks from hooks.d/, and plays
// a host backup: CHECK, FREEZE, THAW. With --keep, leaves both running until Ctrl-C and prints
// how to drive the host by hand.
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { startEmulator } from '../src/emulator/host-client.ts';
import { hvvss } from '../test/support/process.ts';
import type { HostResult } from '../src/emulator/vss-kernel.ts';

const { values } = parseArgs({ options: { keep: { type: 'boolean', default: false } } });
if (process.getuid?.() !== 0) {
  console.error('npm start mounts the emulated hv_vss devices with FUSE and must run as root (e.g. sudo npm start).');
  process.exit(1);
}

// The example hooks that need no database server; they are shipped as .sample files.
const EXAMPLES = ['00-template', '10-sync'];
const work = mkdtempSync(join(tmpdir(), 'hvvss-demo-'));
chmodSync(work, 0o755);
const hooksDir = join(work, 'hooks.d');
mkdirSync(hooksDir, { mode: 0o755 });
chmodSync(hooksDir, 0o755);
const examples = new URL('../hooks.d/', import.meta.url);
for (const name of EXAMPLES) {
  const sample = join(examples.pathname, `${name}.sample`);
  if (!existsSync(sample)) continue;
  copyFileSync(sample, join(hooksDir, name));
  chmodSync(join(hooksDir, name), 0o755);
}
console.log(`hooks: ${readdirSync(hooksDir).join(', ') || '(none)'} in ${hooksDir}`);

const emu = await startEmulator({ dir: join(work, 'emulator'), timeoutMs: 15_000 });
console.log(`emulated hv_vss kernel: ${emu.appDevice} (fs daemon stand-in registered on ${emu.fsDevice})`);
const daemon = hvvss(
  ['daemon', '-n', '--device', emu.appDevice, '--hooks-dir', hooksDir, '--pidfile', join(work, 'run', 'hvvss.pid'),
    '--socket', join(work, 'run', 'hvvss.sock'), '--state-dir', join(work, 'state')],
  { stdio: ['ignore', 'inherit', 'pipe'] },
);
if (daemon.child.stderr) createInterface({ input: daemon.child.stderr }).on('line', (line) => console.log(`  daemon | ${line}`));

let failed = false;
const shutdown = async () => {
  await daemon.stop();
  await emu.stop();
  rmSync(work, { recursive: true, force: true });
};
try {
  await daemon.waitForLine(/registered on /, 15_000);
  const show = (r: HostResult) =>
    `host ${r.op.toUpperCase()}: ${r.result.toUpperCase()} (${r.reason}) in ${r.totalMs.toFixed(1)} ms [` +
    r.stages.map((s) => `${s.side} ${s.status ?? 'no answer'} ${((s.answeredMs ?? r.totalMs) - s.notifiedMs).toFixed(1)} ms`).join(', ') + ']';
  for (const op of ['check', 'freeze', 'thaw'] as const) {
    const result = await emu.host.request(op);
    failed ||= result.result !== 'success';
    console.log(show(result));
  }
  await daemon.waitForLine(/answered \w+ to thaw \(msgid \d+\)/);
  if (values.keep) {
    console.log(`\nRunning. Drive the host by hand, e.g.:\n  node dist/emulator/host-cli.js --dir ${emu.dir} check freeze thaw\nCtrl-C stops both.`);
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  }
} catch (err) {
  failed = true;
  console.error(err instanceof Error ? err.message : err);
} finally {
  await shutdown();
}
console.log(failed ? 'backup cycle FAILED' : 'backup cycle complete: checked, frozen, thawed');
process.exit(failed ? 1 : 0);
