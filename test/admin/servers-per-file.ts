// For the files that run the database hooks under the daemon: an emulator and the MariaDB and
// PostgreSQL servers, started together before the file's first test and stopped after its last.
// A server that could not start is a `Started` that says why (the tests that need it skip).
import { after, before } from 'node:test';
import { startMariaDb, startPostgreSql, type MariaDb, type PostgreSql, type Started } from './databases.ts';

export interface Servers<E> {
  readonly emu: E;
  readonly mariadb: Started<MariaDb>;
  readonly postgres: Started<PostgreSql>;
}

export function serversPerFile<E extends { stop(): Promise<void> }>(startEmulator: () => Promise<E>): Servers<E> {
  let running: { emu: E; mariadb: Started<MariaDb>; postgres: Started<PostgreSql> } | undefined;
  before(async () => {
    const unavailable = (what: string) => (err: unknown) => ({ ok: false as const, reason: `${what} could not be set up: ${String(err)}` });
    const [emu, mariadb, postgres] = await Promise.all([
      startEmulator(),
      startMariaDb().catch(unavailable('MariaDB')),
      startPostgreSql().catch(unavailable('PostgreSQL')),
    ]);
    running = { emu, mariadb, postgres };
  });
  after(async () => {
    await Promise.all([running?.emu.stop(), running?.mariadb.ok && running.mariadb.server.stop(), running?.postgres.ok && running.postgres.server.stop()]);
  });
  const started = () => {
    if (!running) throw new Error('the emulator and the database servers are not started yet (used outside a test)');
    return running;
  };
  return {
    get emu() {
      return started().emu;
    },
    get mariadb() {
      return started().mariadb;
    },
    get postgres() {
      return started().postgres;
    },
  };
}
