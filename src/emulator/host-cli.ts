// The host side by hand: `node dist/emulator/host-cli.js --dir DIR check freeze thaw` sends each
// request to a running emulator and prints what the host sees, one JSON line per request.
// `events` prints the kernel's event log (opens, reads, answers, stale writes).
import { parseArgs } from 'node:util';
import { EmulatorHost } from './host-client.ts';
import { emulatorPaths } from './emulator-server.ts';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { dir: { type: 'string' } } });
if (!values.dir || positionals.length === 0) {
  process.stderr.write('usage: host-cli --dir DIR (check|freeze|thaw|opt=N|events|state)...\n');
  process.exit(2);
}
const host = await EmulatorHost.connect(emulatorPaths(values.dir).control);
try {
  for (const word of positionals) {
    if (word === 'events') console.log(JSON.stringify(await host.events()));
    else if (word === 'state') console.log(JSON.stringify(await host.state()));
    else if (word === 'check' || word === 'freeze' || word === 'thaw') console.log(JSON.stringify(await host.request(word)));
    else if (/^opt=\d+$/.test(word)) console.log(JSON.stringify(await host.request({ opt: Number(word.slice(4)) })));
    else throw new Error(`unknown host action ${JSON.stringify(word)}`);
  }
} finally {
  host.close();
}
