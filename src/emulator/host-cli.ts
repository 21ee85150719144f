// The host side by hand: `node dist/emulator/host-cli.js --dir DIR check freeze thaw` sends each
// request to a running emulator and prints what the host sees, one JSON line per request.
// `events` prints the kernel's event log (opens, reads, answers, stale writes), `detach`
// detaches the driver (SIGKILL to the last openers, as FreeBSD does).
import { parseArgs } from 'node:util';
import { EmulatorHost } from './host-client.ts';
import { emulatorPaths } from './emulator-server.ts';

const USAGE = `usage: host-cli.js --dir DIR ACTION...

Acts as the Hyper-V host of an emulator started with "main.js --dir DIR"; one JSON line per action.

  check | freeze | thaw   send that request; prints what the host sees (result, reason, stages)
  hot-backup              (Linux emulator, main.js --linux) HOT_BACKUP; check is the same there
  opt=N                   send a raw operation code (protocol tests; FreeBSD never forwards one)
  events                  the kernel's event log
  state                   who is registered, the limits
  detach                  detach the driver: SIGKILL to the last openers, devices removed
  hibernate               (Linux emulator) hv_vss_pre_suspend: a fake THAW for the agent
`;

function fail(message: string, code: number): never {
  process.stderr.write(`host-cli: ${message}\n`);
  process.exit(code);
}

let parsed;
try {
  parsed = parseArgs({ allowPositionals: true, options: { dir: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
} catch (err) {
  fail(`${err instanceof Error ? err.message : String(err)} (see --help)`, 2);
}
const { values, positionals } = parsed;
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
if (!values.dir || positionals.length === 0) fail('needs --dir DIR and at least one action (see --help)', 2);
const control = emulatorPaths(values.dir).control;
const host = await EmulatorHost.connect(control).catch((err: NodeJS.ErrnoException) =>
  fail(`no emulator is running in ${values.dir} (${control}: ${err.code ?? err.message}); start one (as root, in the project directory) with "npx node dist/emulator/main.js --dir ${values.dir}"`, 1),
);
try {
  for (const word of positionals) {
    if (word === 'events') console.log(JSON.stringify(await host.events()));
    else if (word === 'state') console.log(JSON.stringify(await host.state()));
    else if (word === 'detach') console.log(JSON.stringify(await host.detach()));
    else if (word === 'hibernate') console.log(JSON.stringify(await host.hibernate().then(() => ({ ok: true }))));
    else if (word === 'hot-backup') console.log(JSON.stringify(await host.linuxRequest(word)));
    else if (word === 'check' || word === 'freeze' || word === 'thaw') console.log(JSON.stringify(await host.request(word)));
    else if (/^opt=\d+$/.test(word)) console.log(JSON.stringify(await host.request({ opt: Number(word.slice(4)) })));
    else fail(`unknown action ${JSON.stringify(word)} (see --help)`, 2);
  }
} catch (err) {
  fail(err instanceof Error ? err.message : String(err), 1);
} finally {
  host.close();
}
