// The asynchronous file calls hvvss makes, as promises over node:fs's callback API. They are
// what node:fs/promises offers, but importing that module also loads Node's readline, file
// streams and watchers: about 1.3 MiB of a resident daemon on every VM, and start-up time for
// `hvvss status` (docs/benchmarks.md, Footprint). node:util is loaded by Node itself already.
import { close, fsync, open, readdir, readFile, rename, unlink, writeFile } from 'node:fs';
import { promisify } from 'node:util';

export const openAsync = promisify(open);
export const closeAsync = promisify(close);
export const fsyncAsync = promisify(fsync);
export const renameAsync = promisify(rename);
export const unlinkAsync = promisify(unlink);
/** The whole of `data` to an open descriptor (writeFile loops over short writes). */
export const writeAllAsync = (fd: number, data: string | Uint8Array): Promise<void> => promisify(writeFile)(fd, data);
export const readTextAsync = (path: string): Promise<string> => promisify(readFile)(path, 'utf8');
export const readdirAsync = (path: string): Promise<string[]> => promisify(readdir)(path);
