// A net.Server listening on a Unix socket that only its owner (root) can connect to: the daemon's
// control socket and the keeper's. The socket is created owner-only (umask) rather than chmod'ed
// afterwards, so there is no instant at which another user could connect.
//
// Why not server.listen(path) alone: it goes through Node's cluster support, which loads
// node:cluster and with it node:child_process and node:dgram, even in a process that is no
// cluster worker: about 0.9 MiB of a resident daemon's memory on every VM for nothing it uses
// (docs/benchmarks.md, Footprint). Server.prototype._listen2 is the step listen() ends in for a
// process of its own (a cluster primary, or `exclusive`): create the pipe handle, bind, listen,
// then 'listening' or 'error' on the next tick. listen() itself calls it by that name
// (listenInCluster), as Node has since its cluster module was written; should a Node stop
// having it, plain listen() is used.
// test/e2e/daemon-modules.test.ts fails when the daemon loads node:cluster again.
import { chmodSync } from 'node:fs';
import { once } from 'node:events';
import type { Server } from 'node:net';

interface ListenInternals {
  _listen2?: (address: string, port: number, addressType: number, backlog: number) => void;
  /** What server.address() reports for a Unix socket; listen(path) sets it. */
  _pipeName?: string;
}

/** Listens on PATH (which must not exist), mode 0600; rejects with listen's error. */
export async function listenOwnerOnly(server: Server, path: string): Promise<void> {
  const internals = server as unknown as ListenInternals;
  const oldMask = process.umask(0o177);
  // Both waits end with the first event, so that no listener of ours stays on the server.
  const done = new AbortController();
  try {
    if (typeof internals._listen2 === 'function' && !server.listening) {
      internals._pipeName = path;
      // (address, port -1 and address type -1: a pipe; 511: listen()'s default backlog)
      internals._listen2(path, -1, -1, 511);
    } else {
      server.listen(path);
    }
    const { signal } = done;
    await Promise.race([once(server, 'listening', { signal }), once(server, 'error', { signal }).then(([err]) => Promise.reject(err as Error))]);
  } finally {
    done.abort();
    process.umask(oldMask);
  }
  // Already 0600 from the umask; said again in case the file system ignored it.
  chmodSync(path, 0o600);
}
