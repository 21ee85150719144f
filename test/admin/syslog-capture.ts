// What a process sends to syslog(3), caught without a syslogd and without touching this machine's
// /dev: the command runs in its own mount namespace (unshare(1)) whose /dev is a tmpfs holding
// bind mounts of the real /dev's entries plus a `log` symlink to a socket this helper listens on.
// glibc's syslog(3) connects to /dev/log as a datagram socket and, refused (EPROTOTYPE), as a
// stream socket, where each message ends with a NUL: that is what Node can listen on.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SyslogMessage {
  /** LOG_DAEMON is 3, LOG_USER 1. */
  readonly facility: number;
  /** LOG_ERR is 3, LOG_WARNING 4, LOG_NOTICE 5, LOG_INFO 6, LOG_DEBUG 7. */
  readonly severity: number;
  /** The ident before "[pid]:". */
  readonly tag: string;
  readonly pid: number | undefined;
  readonly text: string;
}

export const SEVERITY = { err: 3, warning: 4, notice: 5, info: 6, debug: 7 } as const;
export const FACILITY = { user: 1, daemon: 3 } as const;

// $1: an empty directory for the real /dev, $2: the socket; then the command.
const NAMESPACE_SCRIPT = `set -e
real=$1 log=$2
shift 2
mount --rbind /dev "$real"
mount -t tmpfs -o mode=0755 hvvss-test-dev /dev
for entry in "$real"/* "$real"/.[!.]*; do
	[ -e "$entry" ] || [ -L "$entry" ] || continue
	name=\${entry##*/}
	if [ -L "$entry" ]; then cp -P "$entry" "/dev/$name"
	elif [ -d "$entry" ]; then mkdir "/dev/$name"; mount --rbind "$entry" "/dev/$name"
	else : > "/dev/$name"; mount --bind "$entry" "/dev/$name"
	fi
done
ln -sf "$log" /dev/log
exec "$@"`;

export class SyslogCapture {
  readonly messages: SyslogMessage[] = [];
  readonly #dir: string;
  readonly #socket: string;
  readonly #server: Server;
  readonly #clients = new Set<Socket>();
  #waiters: Array<() => void> = [];

  private constructor(dir: string, server: Server) {
    this.#dir = dir;
    this.#socket = join(dir, 'log.sock');
    this.#server = server;
  }

  static async start(): Promise<SyslogCapture> {
    const dir = mkdtempSync(join(tmpdir(), 'hvvss-syslog-'));
    mkdirSync(join(dir, 'dev'));
    const capture: SyslogCapture = new SyslogCapture(dir, createServer((client) => capture.#accept(client)));
    await new Promise<void>((resolve, reject) => {
      capture.#server.once('error', reject);
      capture.#server.listen(capture.#socket, resolve);
    });
    return capture;
  }

  /** The command line that runs `argv` with its /dev/log leading here. */
  wrap(argv: readonly string[]): string[] {
    return ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', NAMESPACE_SCRIPT, 'sh', join(this.#dir, 'dev'), this.#socket, ...argv];
  }

  /** Resolves with the first message (already received or to come) that matches, or rejects after `timeoutMs`. */
  waitFor(match: (m: SyslogMessage) => boolean, timeoutMs: number, what: string): Promise<SyslogMessage> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.messages.find(match);
        if (found) resolve(found);
        return found !== undefined;
      };
      if (check()) return;
      const waiter = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`no syslog message ${what} within ${timeoutMs} ms; got:\n${this.messages.map(format).join('\n')}`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  async close(): Promise<void> {
    for (const client of this.#clients) client.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #accept(client: Socket): void {
    this.#clients.add(client);
    client.on('close', () => this.#clients.delete(client));
    client.setEncoding('utf8');
    let pending = '';
    client.on('data', (chunk: string) => {
      pending += chunk;
      let end: number;
      while ((end = pending.indexOf('\0')) >= 0) {
        const raw = pending.slice(0, end);
        pending = pending.slice(end + 1);
        const message = parse(raw);
        if (message) this.messages.push(message);
      }
      for (const waiter of [...this.#waiters]) waiter();
    });
  }
}

/** `<PRI>Mmm dd hh:mm:ss TAG[PID]: TEXT`, as glibc sends it. */
function parse(raw: string): SyslogMessage | undefined {
  const m = /^<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d ([^[:]+)(?:\[(\d+)\])?: ([\s\S]*)$/.exec(raw);
  if (!m) return undefined;
  const pri = Number(m[1]);
  return { facility: pri >> 3, severity: pri & 7, tag: m[2]!, pid: m[3] === undefined ? undefined : Number(m[3]), text: m[4]! };
}

export const format = (m: SyslogMessage): string => `${m.tag} facility ${m.facility} severity ${m.severity}: ${m.text}`;
