// What the kernel says of a loop mount now: its line of /proc/self/mountinfo, and what a write
// to it gets.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMountinfo, type MountEntry } from '../../src/fs/mount-table.ts';

/** The mount's last line of /proc/self/mountinfo (the one on top). */
export function liveMount(mountpoint: string): MountEntry {
  const entry = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).filter((e) => e.mountpoint === mountpoint).at(-1);
  assert.ok(entry, `${mountpoint} is mounted`);
  return entry;
}

export const readOnly = (mountpoint: string): boolean => liveMount(mountpoint).readOnly;

/** The error code a small write to the mount gets (EROFS while read-only), undefined if it succeeds. */
export function writeError(mountpoint: string): string | undefined {
  try {
    writeFileSync(join(mountpoint, 'probe'), 'x');
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
}
