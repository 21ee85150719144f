// Text arriving in chunks, handed on line by line: hook output, and the one-JSON-line-per-message
// sockets of the keeper and the daemon. A line longer than `maxLine` is handed on in pieces, so
// a writer that never sends a newline cannot grow our memory.
import type { Readable } from 'node:stream';

export class LineSplitter {
  readonly #onLine: (line: string) => void;
  readonly #maxLine: number;
  #pending = '';

  constructor(onLine: (line: string) => void, maxLine = 64 * 1024) {
    this.#onLine = onLine;
    this.#maxLine = maxLine;
  }

  push(chunk: string): void {
    this.#pending += chunk;
    let newline: number;
    while ((newline = this.#pending.indexOf('\n')) !== -1) {
      const line = this.#pending.slice(0, newline);
      this.#pending = this.#pending.slice(newline + 1);
      this.#onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
    }
    while (this.#pending.length > this.#maxLine) {
      this.#onLine(this.#pending.slice(0, this.#maxLine));
      this.#pending = this.#pending.slice(this.#maxLine);
    }
  }

  /** Hands on a last line that had no newline. */
  end(): void {
    if (this.#pending.length > 0) this.#onLine(this.#pending.endsWith('\r') ? this.#pending.slice(0, -1) : this.#pending);
    this.#pending = '';
  }
}

/** Calls `onLine` for every line of `stream` (without the newline), and for a final unterminated one. */
export function readLines(stream: Readable, onLine: (line: string) => void, maxLine?: number): void {
  const splitter = new LineSplitter(onLine, maxLine);
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => splitter.push(chunk));
  const flush = (): void => splitter.end();
  stream.once('end', flush);
  stream.once('close', flush);
  stream.on('error', () => {
    // EIO/ECONNRESET on a pipe whose writer died: nothing to do, 'close' follows.
  });
}
