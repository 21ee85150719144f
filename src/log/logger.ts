// Logging for agents: readable lines on a stream in the foreground (-n), syslog(3) when detached.
// Debug lines are dropped unless -d. A logger can be told to hold lines in memory (while
// applications are frozen, writes to disk may block) and flush them later.
import { fstatSync } from 'node:fs';
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

/**
 * Lines for journald when systemd runs the agent (`hvvss.service`): journald stamps the time
 * itself and reads each line's priority from a "<N>" prefix (sd-daemon(3)), so an error shows
 * as one in `journalctl -p err` instead of every line landing at info.
 */
export function journalSink(stream: NodeJS.WritableStream): LogSink {
  return { write: (level, message) => stream.write(`<${PRIORITY[level]}>${message}\n`) };
}

/**
 * Whether descriptor `fd` is the journald stream systemd connected: it sets JOURNAL_STREAM to
 * "DEV:INODE" of that stream, and a redirection by the admin (2>file) makes the numbers differ.
 */
export function isJournalStream(fd: number, env: NodeJS.ProcessEnv = process.env): boolean {
  const expected = env['JOURNAL_STREAM'];
  if (!expected) return false;
  try {
    const stat = fstatSync(fd);
    return expected === `${stat.dev}:${stat.ino}`;
  } catch {
    return false;
  }
}

/** The foreground sink: journald's format when stderr is the journal, readable lines otherwise. */
export function foregroundSink(stream: NodeJS.WritableStream): LogSink {
  return stream === process.stderr && isJournalStream(2) ? journalSink(stream) : streamSink(stream);
}

/** syslog(3) with ident `hvvss`; `facility` is daemon for the daemon, user for simulate. */
export function syslogSink(facility: 'daemon' | 'user', ident = 'hvvss'): LogSink {
  openSyslog(ident, facility === 'daemon' ? LOG.DAEMON : LOG.USER);
  return { write: (level, message) => syslog(PRIORITY[level], message) };
}

/**
 * Held lines are bounded: a hook that prints without end while frozen must not grow the daemon
 * until V8 kills it (which would leave everything frozen until a restart). The first lines say
 * how the freeze went, the last ones how it ended; the middle is counted, not kept.
 */
const HELD_LIMITS = { head: 200, tail: 800, lineChars: 2_000 } as const;

type HeldLine = readonly [LogLevel, string, Date];

/** A logger that can keep its lines in memory while file systems may be frozen. */
export interface HoldingLogger extends Logger {
  hold(): void;
  flush(): void;
}

export class AgentLogger implements HoldingLogger {
  readonly #sink: LogSink;
  readonly #debug: boolean;
  /** `tail` is a ring of HELD_LIMITS.tail lines; `next` is where the next line goes. */
  #held: { head: HeldLine[]; tail: HeldLine[]; next: number; dropped: number; since: Date } | undefined;

  constructor(sink: LogSink, options: { debug?: boolean } = {}) {
    this.#sink = sink;
    this.#debug = options.debug ?? false;
  }

  log(level: LogLevel, message: string): void {
    if (level === 'debug' && !this.#debug) return;
    const held = this.#held;
    if (!held) return this.#sink.write(level, message, new Date());
    const text = message.length > HELD_LIMITS.lineChars ? `${message.slice(0, HELD_LIMITS.lineChars)}... (${message.length} chars)` : message;
    const line: HeldLine = [level, text, new Date()];
    if (held.head.length < HELD_LIMITS.head) return void held.head.push(line);
    if (held.tail.length === HELD_LIMITS.tail) held.dropped += 1;
    held.tail[held.next] = line;
    held.next = (held.next + 1) % HELD_LIMITS.tail;
  }

  /** From now on keep lines in memory (nothing reaches the sink) until flush(). */
  hold(): void {
    this.#held ??= { head: [], tail: [], next: 0, dropped: 0, since: new Date() };
  }

  /** Writes the held lines, in order, with their original times, and stops holding. */
  flush(): void {
    const held = this.#held;
    this.#held = undefined;
    if (!held) return;
    for (const [level, message, at] of held.head) this.#sink.write(level, message, at);
    const tail = held.tail.length < HELD_LIMITS.tail ? held.tail : [...held.tail.slice(held.next), ...held.tail.slice(0, held.next)];
    if (held.dropped > 0) {
      this.#sink.write(
        'warning',
        `${held.dropped} log line(s) dropped while frozen (only the first ${HELD_LIMITS.head} and last ${HELD_LIMITS.tail} lines held since ${held.since.toISOString()} are kept)`,
        tail[0]?.[2] ?? new Date(),
      );
    }
    for (const [level, message, at] of tail) this.#sink.write(level, message, at);
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
