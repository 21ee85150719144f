// Private MariaDB and PostgreSQL servers for the database hook tests: a fresh data directory and a
// unix socket under a temporary directory, no TCP, started by root and running as the mysql and
// postgres users (nothing depends on systemd or on the distribution's own cluster). A server that is
// not installed or does not start is reported as unavailable, with the reason, so tests can skip.
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { WatchedProcess, within } from '../support/process.ts';

const run = promisify(execFile);

export type Started<T> = { ok: true; server: T } | { ok: false; reason: string };

interface Account {
  uid: number;
  gid: number;
}

function account(user: string): Account | undefined {
  const uid = spawnSync('id', ['-u', user], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', user], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

function which(program: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

/** A directory the server's user can reach and own. */
function privateDir(prefix: string, owner: Account): string {
  const root = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(root, 0o755);
  const dir = join(root, 'db');
  mkdirSync(dir, { mode: 0o755 });
  chownSync(dir, owner.uid, owner.gid);
  return dir;
}

async function stopServer(proc: WatchedProcess, signal: NodeJS.Signals, root: string): Promise<void> {
  try {
    await proc.stop(signal, 20_000);
  } catch {
    proc.child.kill('SIGKILL');
  }
  rmSync(root, { recursive: true, force: true });
}

export interface MariaDb {
  readonly socket: string;
  /** Runs SQL as root over the socket; resolves with the output (tab-separated, no headers). */
  query(sql: string): Promise<string>;
  /** Starts a client running `sql` and returns it running. */
  client(sql: string): WatchedProcess;
  /** Starts a client that reads statements from its stdin (a pipe) and prints each result at once. */
  session(): WatchedProcess;
  stop(): Promise<void>;
}

export async function startMariaDb(): Promise<Started<MariaDb>> {
  const server = which('mariadbd') ?? which('mysqld') ?? (existsSync('/usr/sbin/mariadbd') ? '/usr/sbin/mariadbd' : undefined);
  const installDb = which('mariadb-install-db') ?? which('mysql_install_db');
  const clientBin = which('mariadb') ?? which('mysql');
  const user = account('mysql');
  if (!server || !installDb || !clientBin || !user) {
    return { ok: false, reason: 'MariaDB is not installed (apt-get install mariadb-server)' };
  }
  const dir = privateDir('hvvss-mariadb-', user);
  const root = join(dir, '..');
  const datadir = join(dir, 'data');
  const socket = join(dir, 'mysqld.sock');
  try {
    await run(installDb, ['--no-defaults', `--user=mysql`, `--datadir=${datadir}`, '--auth-root-authentication-method=socket', '--skip-test-db'], { timeout: 60_000 });
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    return { ok: false, reason: `mariadb-install-db failed: ${String((err as { stderr?: string }).stderr ?? err).slice(-800)}` };
  }
  const proc = new WatchedProcess(server, [
    '--no-defaults', '--user=mysql', `--datadir=${datadir}`, `--socket=${socket}`, `--pid-file=${join(dir, 'mysqld.pid')}`,
    '--skip-networking', '--innodb-buffer-pool-size=32M', '--skip-log-bin',
  ]);
  try {
    await proc.waitForLine(/ready for connections/, 60_000);
  } catch (err) {
    await stopServer(proc, 'SIGKILL', root);
    return { ok: false, reason: `mariadbd did not start: ${String(err).slice(-800)}` };
  }
  const base = [`--socket=${socket}`, '--user=root', '--batch', '--skip-column-names'];
  return {
    ok: true,
    server: {
      socket,
      async query(sql) {
        const { stdout } = await run(clientBin, [...base, '-e', sql], { timeout: 20_000 });
        return stdout.trim();
      },
      client: (sql) => new WatchedProcess(clientBin, [...base, '--unbuffered', '-e', sql]),
      session: () => new WatchedProcess(clientBin, [...base, '--unbuffered'], { stdio: ['pipe', 'pipe', 'pipe'] }),
      stop: () => stopServer(proc, 'SIGTERM', root),
    },
  };
}

export interface PostgreSql {
  readonly socketDir: string;
  readonly port: number;
  /** Server log lines so far (log_checkpoints and log_connections are on). */
  readonly log: WatchedProcess;
  /** Runs SQL as the postgres user; resolves with the unaligned, tuples-only output. */
  query(sql: string): Promise<string>;
  stop(): Promise<void>;
}

function postgresBinDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(base, versions[0], 'bin');
}

export async function startPostgreSql(): Promise<Started<PostgreSql>> {
  const bin = postgresBinDir();
  const user = account('postgres');
  const psql = which('psql') ?? (bin ? join(bin, 'psql') : undefined);
  if (!bin || !user || !psql) return { ok: false, reason: 'PostgreSQL is not installed (apt-get install postgresql)' };
  const dir = privateDir('hvvss-postgresql-', user);
  const root = join(dir, '..');
  const datadir = join(dir, 'data');
  const port = 5432;
  const asPostgres = { uid: user.uid, gid: user.gid, cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C' } };
  try {
    await run(join(bin, 'initdb'), ['-D', datadir, '-U', 'postgres', '-A', 'peer', '--no-sync'], { ...asPostgres, timeout: 60_000 });
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    return { ok: false, reason: `initdb failed: ${String((err as { stderr?: string }).stderr ?? err).slice(-800)}` };
  }
  const proc = new WatchedProcess(join(bin, 'postgres'), [
    '-D', datadir, '-k', dir, '-p', String(port), '-c', 'listen_addresses=', '-c', 'log_checkpoints=on', '-c', 'log_connections=on', '-c', 'fsync=off',
  ], asPostgres);
  try {
    await proc.waitForLine(/database system is ready to accept connections/, 60_000);
  } catch (err) {
    await stopServer(proc, 'SIGKILL', root);
    return { ok: false, reason: `postgres did not start: ${String(err).slice(-800)}` };
  }
  return {
    ok: true,
    server: {
      socketDir: dir,
      port,
      log: proc,
      async query(sql) {
        const { stdout } = await run(psql, ['-X', '-A', '-t', '-h', dir, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-c', sql], { ...asPostgres, timeout: 20_000 });
        return stdout.trim();
      },
      // SIGINT: fast shutdown (SIGTERM would wait for clients).
      stop: () => stopServer(proc, 'SIGINT', root),
    },
  };
}

/**
 * Resolves once `condition` holds (for states only a query shows, e.g. a statement waiting on a lock);
 * checks it again every 50 ms and rejects after `ms` naming `what`.
 */
export async function until(condition: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  let gaveUp = false;
  const check = async (): Promise<void> => {
    while (!gaveUp && !(await condition())) await new Promise((resolve) => setTimeout(resolve, 50));
  };
  try {
    await within(check(), ms, what);
  } finally {
    gaveUp = true;
  }
}
