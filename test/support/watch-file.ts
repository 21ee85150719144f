// Waiting for a file's contents to reach a state (a hook appending its line), on inotify
// events rather than on the clock.
import { watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { within } from './process.ts';

/** Resolves with the file's lines once `ready(lines)` holds (checked now and on every change). */
export async function waitForFile(path: string, ready: (lines: string[]) => boolean, ms = 10_000, what = `a change of ${path}`): Promise<string[]> {
  const read = async () => (await readFile(path, 'utf8')).split('\n').filter(Boolean);
  const watcher = watch(path);
  try {
    const found = new Promise<string[]>((resolve, reject) => {
      const check = () =>
        read().then((lines) => {
          if (ready(lines)) resolve(lines);
        }, reject);
      watcher.on('change', check);
      watcher.on('error', reject);
      void check();
    });
    return await within(found, ms, what);
  } finally {
    watcher.close();
  }
}
