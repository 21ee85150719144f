// The live mount table, as plain entries: Linux's /proc/self/mountinfo, FreeBSD's `mount -p`
// (fstab(5) lines, one per mounted file system, from getmntinfo(3)). The parsers are pure so
// they are tested on real samples; readMountTable() only fetches the text.
import { childProcess } from '../util/builtins.ts';
import { readFileSync } from 'node:fs';
import { readTextAsync } from '../util/fs-async.ts';

export interface MountEntry {
  /** What is mounted: a device, a pool dataset, a server path, or a name like "tmpfs". */
  readonly source: string;
  readonly mountpoint: string;
  readonly fstype: string;
  readonly readOnly: boolean;
  /** Mount options as listed (Linux: per-mount then super-block options). */
  readonly options: readonly string[];
}

/**
 * Undoes the kernel's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash): both
 * mountinfo and `mount -p` write a space in a path that way so fields stay space-separated.
 */
export function decodeOctalEscapes(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/**
 * Linux proc(5) mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT MOUNT-OPTS [OPTIONAL...] - FSTYPE
 * SOURCE SUPER-OPTS". Read-only when either the mount or its super block is "ro".
 */
export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const fields = line.split(' ');
    const dash = fields.indexOf('-', 6);
    if (dash === -1 || fields.length < dash + 3) throw new Error(`unexpected mountinfo line: ${JSON.stringify(line)}`);
    const mountOptions = (fields[5] ?? '').split(',');
    const superOptions = (fields[dash + 3] ?? '').split(',');
    entries.push({
      source: decodeOctalEscapes(fields[dash + 2] as string),
      mountpoint: decodeOctalEscapes(fields[4] as string),
      fstype: fields[dash + 1] as string,
      readOnly: mountOptions.includes('ro') || superOptions.includes('ro'),
      options: [...mountOptions, ...superOptions.filter((o) => o !== '')],
    });
  }
  return entries;
}

/**
 * FreeBSD `mount -p`: "SOURCE MOUNTPOINT FSTYPE OPTIONS DUMP PASS", separated by tabs or spaces,
 * in mount order (as getmntinfo(3) returns them). Read-only when OPTIONS has "ro".
 */
export function parseMountP(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const fields = line.trim().split(/[ \t]+/);
    if (fields.length < 4) throw new Error(`unexpected "mount -p" line: ${JSON.stringify(line)}`);
    const options = (fields[3] as string).split(',');
    entries.push({
      source: decodeOctalEscapes(fields[0] as string),
      mountpoint: decodeOctalEscapes(fields[1] as string),
      fstype: fields[2] as string,
      readOnly: options.includes('ro'),
      options,
    });
  }
  return entries;
}

export type MountTableOs = 'freebsd' | 'linux';

/**
 * For the emulator's tests only (docs/emulator.md): when set, the mount table is FreeBSD's, read
 * from this file (text as `mount -p` prints it) instead of running mount(8), so the FreeBSD fs
 * role (UFS suspended by the helper through /dev/ufssuspend) runs on Linux against the emulator.
 */
export const FREEBSD_MOUNT_TABLE_ENV = 'HVVSS_FREEBSD_MOUNT_TABLE';

export function mountTableOs(platform: string = process.platform, env: NodeJS.ProcessEnv = process.env): MountTableOs {
  if (env[FREEBSD_MOUNT_TABLE_ENV]) return 'freebsd';
  if (platform === 'freebsd' || platform === 'linux') return platform;
  throw new Error(`hvvss reads the mount table on FreeBSD and Linux only; this is ${platform}`);
}

/** The mount table of this machine, in mount order. */
export async function readMountTable(os: MountTableOs = mountTableOs(), env: NodeJS.ProcessEnv = process.env): Promise<MountEntry[]> {
  if (os === 'linux') return parseMountinfo(await readTextAsync('/proc/self/mountinfo'));
  const emulated = env[FREEBSD_MOUNT_TABLE_ENV];
  if (emulated) return parseMountP(await readTextAsync(emulated));
  const text = await new Promise<string>((resolve, reject) => {
    // Bounded: a CHECK must be answered within the kernel's limit, whatever mount(8) does.
    childProcess().execFile('/sbin/mount', ['-p'], { timeout: 5_000, encoding: 'utf8' }, (err, stdout) => {
      if (err) reject(new Error(`cannot list the mounted file systems with "/sbin/mount -p": ${err.message}`));
      else resolve(stdout);
    });
  });
  return parseMountP(text);
}

/**
 * The same, synchronously: for the thaw paths (a remount read-write checks the live flags first,
 * and those paths run like FITHAW, without waiting on anything but the call).
 */
export function readMountTableSync(os: MountTableOs = mountTableOs()): MountEntry[] {
  if (os === 'linux') return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  try {
    return parseMountP(childProcess().execFileSync('/sbin/mount', ['-p'], { timeout: 5_000, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
  } catch (err) {
    throw new Error(`cannot list the mounted file systems with "/sbin/mount -p": ${(err as Error).message}`);
  }
}

/** The visible mount at `mountpoint` (the last one mounted there), or undefined. */
export function liveMountIn(entries: readonly MountEntry[], mountpoint: string): MountEntry | undefined {
  return entries.filter((e) => e.mountpoint === mountpoint).at(-1);
}
