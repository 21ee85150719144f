// Logging for agents: readable lines on a stream in the foreground (-n), syslog(3) when detached.
// Debug lines are dropped unless -d. A logger can be told to hold lines in memory (while
// applications are frozen, writes to disk may block) and flush them later.
import { LOG, openSyslog, syslog } from '../native/libc.ts';

export type LogLevel = 'error' | 'warning' | 'notice' | 'info' | 'debug';

export interface Logger {
  log(level: LogLevel, message: string): void;
  error(message: string): void;
  warn(message: string): void;
  notice(message: string): void;
  info(message: string): void;
  debug(message: string): void;
}

export interface LogSink {
  write(level: LogLevel, message: string, at: Date): void;
}

const PRIORITY: Record<LogLevel, number> = { error: LOG.ERR, warning: LOG.WARNING, notice: LOG.NOTICE, info: LOG.INFO, debug: LOG.DEBUG };

export function streamSink(stream: NodeJS.WritableStream): LogSink {
  return {
    write(level, message, at) {
      stream.write(`${at.toISOString()} ${level.padEnd(7)} ${message}\n`);
    },
  };
}

/** syslog(3) with ident `hvvss`; `facility` is daemon for the daemon, user for simulate. */
export function syslogSink(facility: 'daemon' | 'user', ident = 'hvvss'): LogSink {
  openSyslog(ident, facility === 'daemon' ? LOG.DAEMON : LOG.USER);
  return { write: (level, message) => syslog(PRIORITY[level], message) };
}

export class AgentLogger implements Logger {
  readonly #sink: LogSink;
  readonly #debug: boolean;
  #held: Array<[LogLevel, string, Date]> | undefined;

  constructor(sink: LogSink, options: { debug?: boolean } = {}) {
    this.#sink = sink;
    this.#debug = options.debug ?? false;
  }

  log(level: LogLevel, message: string): void {
    if (level === 'debug' && !this.#debug) return;
    if (this.#held) this.#held.push([level, message, new Date()]);
    else this.#sink.write(level, message, new Date());
  }

  /** From now on keep lines in memory (nothing reaches the sink) until flush(). */
  hold(): void {
    this.#held ??= [];
  }

  /** Writes the held lines, in order, with their original times, and stops holding. */
  flush(): void {
    const held = this.#held;
    this.#held = undefined;
    for (const [level, message, at] of held ?? []) this.#sink.write(level, message, at);
  }

  error(message: string): void {
    this.log('error', message);
  }
  warn(message: string): void {
    this.log('warning', message);
  }
  notice(message: string): void {
    this.log('notice', message);
  }
  info(message: string): void {
    this.log('info', message);
  }
  debug(message: string): void {
    this.log('debug', message);
  }
}
