// Which pages of the Node binary one process holds resident that another does not, named: the tool
// behind the footprint notes in docs/benchmarks.md (it traced the daemon's extra memory to
// node:cluster, the ESM loader and Node's crypto layer). Linux only, as root (/proc/PID/pagemap
// shows page frames to root alone); binutils' nm and readelf name the pages, since Node's release
// binaries keep their symbols.
//
//   node bench/resident-pages.ts PID REFERENCE_PID [--top N]
//
// Most of a Node process's memory beyond its heap is the binary itself: V8's builtins and parser
// (.text) and, in .rodata, the JavaScript sources of Node's built-in modules with their code
// cache, paged in as the process loads and runs them. Those sources carry no symbol; such a page
// is shown with the first function names written on it, which tell the module.
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readlinkSync, readSync } from 'node:fs';

const PAGE = 4096;

interface Mapping {
  readonly start: number;
  readonly end: number;
  readonly offset: number;
}

interface ElfSymbol {
  readonly address: number;
  readonly size: number;
  readonly name: string;
}

interface Section {
  readonly name: string;
  readonly address: number;
  readonly size: number;
  readonly offset: number;
}

/** The executable's mappings in PID (start, end, file offset). */
export function binaryMappings(pid: number, exe: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 6 || fields.slice(5).join(' ') !== exe) continue;
    const [start, end] = fields[0]!.split('-').map((hex) => Number.parseInt(hex, 16)) as [number, number];
    out.push({ start, end, offset: Number.parseInt(fields[2]!, 16) });
  }
  return out;
}

/**
 * The pages of the executable present in PID's memory, as page numbers in the file (offset /
 * PAGE): Node maps part of its .text a second time at a random address (V8's builtins, near the
 * heap, for short calls), so addresses differ between processes where file offsets do not.
 */
export function residentPages(pid: number, mappings: readonly Mapping[]): Set<number> {
  const pages = new Set<number>();
  const fd = openSync(`/proc/${pid}/pagemap`, 'r');
  try {
    for (const { start, end, offset } of mappings) {
      const count = (end - start) / PAGE;
      const entries = Buffer.alloc(count * 8);
      readSync(fd, entries, 0, entries.length, (start / PAGE) * 8);
      // Bit 63 of each little-endian entry: the page is present.
      for (let i = 0; i < count; i++) if (entries[i * 8 + 7]! & 0x80) pages.add(offset / PAGE + i);
    }
  } finally {
    closeSync(fd);
  }
  return pages;
}

function symbols(exe: string): ElfSymbol[] {
  const out: ElfSymbol[] = [];
  const text = execFileSync('nm', ['-S', '--defined-only', '-C', exe], { encoding: 'utf8', maxBuffer: 1 << 30 });
  for (const line of text.split('\n')) {
    const match = /^([0-9a-f]+) ([0-9a-f]+) \S (.+)$/.exec(line);
    if (match) out.push({ address: Number.parseInt(match[1]!, 16), size: Number.parseInt(match[2]!, 16), name: match[3]! });
  }
  return out.sort((a, b) => a.address - b.address);
}

function sections(exe: string): Section[] {
  const out: Section[] = [];
  for (const line of execFileSync('readelf', ['-SW', exe], { encoding: 'utf8' }).split('\n')) {
    const match = /\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(line);
    if (match && Number.parseInt(match[2]!, 16) > 0) {
      out.push({ name: match[1]!, address: Number.parseInt(match[2]!, 16), offset: Number.parseInt(match[3]!, 16), size: Number.parseInt(match[4]!, 16) });
    }
  }
  return out;
}

/** The smallest symbol overlapping the page at ADDRESS (symbols sorted by address). */
function owner(sorted: readonly ElfSymbol[], address: number): ElfSymbol | undefined {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]!.address < address + PAGE) lo = mid + 1;
    else hi = mid;
  }
  let best: ElfSymbol | undefined;
  // Symbols starting up to 64 MiB below can still cover the page (ICU's data is 33 MiB).
  for (let i = lo - 1; i >= 0 && sorted[i]!.address > address - 64 * 1024 * 1024; i--) {
    const s = sorted[i]!;
    if (s.address + s.size > address && (best === undefined || s.size < best.size)) best = s;
  }
  return best;
}

/**
 * What a page of .rodata without a symbol holds, in a few words: JavaScript source (the functions
 * defined on it), code cache (the module names in it), or other data (its first characters).
 */
function sourceHint(exe: string, section: Section, address: number): string[] {
  const fd = openSync(exe, 'r');
  try {
    const bytes = Buffer.alloc(PAGE);
    readSync(fd, bytes, 0, PAGE, section.offset + (address - section.address));
    const text = bytes.toString('latin1');
    const printable = text.replace(/[^\x20-\x7e\t\n]/g, '').length / PAGE;
    if (printable > 0.9) {
      const functions = [...text.matchAll(/function\s+([\w$]+)/g)].map((m) => m[1]!);
      return functions.length ? functions : [JSON.stringify(text.slice(0, 40))];
    }
    const modules = [...text.matchAll(/(?:internal|node):[\w/]+|internal\/[\w/]+/g)].map((m) => `[cache] ${m[0]}`);
    return modules.length ? modules : ['[binary data]'];
  } finally {
    closeSync(fd);
  }
}

/** Consecutive pages as one run: its first address, its page count and the first names on it. */
function runs(pages: ReadonlyArray<readonly [number, string[]]>): Array<{ address: number; pages: number; names: string[] }> {
  const out: Array<{ address: number; pages: number; names: string[] }> = [];
  for (const [address, names] of pages) {
    const last = out.at(-1);
    if (last && last.address + last.pages * PAGE === address) {
      last.pages++;
      for (const n of names) if (last.names.length < 6 && !last.names.includes(n)) last.names.push(n);
    } else {
      out.push({ address, pages: 1, names: names.slice(0, 6) });
    }
  }
  return out;
}

export interface ResidentDiff {
  /** KiB resident in the process and not in the reference, and the other way round. */
  readonly extraKiB: number;
  readonly fewerKiB: number;
  /** KiB of the extra pages by what they hold, largest first. */
  readonly groups: ReadonlyArray<readonly [string, number]>;
  /** The extra .rodata pages with no symbol, as runs of consecutive pages with the first functions defined there. */
  readonly sources: ReadonlyArray<{ address: number; pages: number; names: string[] }>;
}

/** The Node binary's pages resident in PID and not in REFERENCE, named (both must run the same binary). */
export function residentDiff(pid: number, reference: number): ResidentDiff {
  const exe = readlinkSync(`/proc/${pid}/exe`);
  if (readlinkSync(`/proc/${reference}/exe`) !== exe) throw new Error(`${pid} and ${reference} do not run the same executable`);
  const mine = residentPages(pid, binaryMappings(pid, exe));
  const theirs = residentPages(reference, binaryMappings(reference, exe));
  const sorted = symbols(exe);
  const secs = sections(exe);
  const rodata = secs.find((s) => s.name === '.rodata');
  const groups = new Map<string, number>();
  const sources: Array<[number, string[]]> = [];
  let extra = 0;
  for (const page of [...mine].sort((a, b) => a - b)) {
    if (theirs.has(page)) continue;
    extra++;
    // The page's link-time address, which nm's and readelf's are: through the section holding it.
    const section = secs.find((sec) => page * PAGE >= sec.offset && page * PAGE < sec.offset + sec.size);
    const address = section ? section.address + (page * PAGE - section.offset) : -1;
    const named = section ? owner(sorted, address) : undefined;
    let group: string;
    if (named) {
      // V8's builtins (one symbol each) together; C++ names without their parameters.
      group = named.name.startsWith('Builtins_') ? 'Builtins_* (V8 builtins)' : named.name.replace(/\(.*$/, '');
    } else if (section === rodata && rodata) {
      group = '.rodata without a symbol (built-in modules\' JavaScript and code cache)';
      sources.push([address, sourceHint(exe, rodata, address)]);
    } else {
      group = `${section?.name ?? 'ELF headers'} without a symbol`;
    }
    groups.set(group, (groups.get(group) ?? 0) + PAGE / 1024);
  }
  const fewer = [...theirs].filter((page) => !mine.has(page)).length;
  return {
    extraKiB: (extra * PAGE) / 1024,
    fewerKiB: (fewer * PAGE) / 1024,
    groups: [...groups].sort((a, b) => b[1] - a[1]),
    sources: runs(sources),
  };
}

if (import.meta.main) {
  const [pid, reference] = process.argv.slice(2, 4).map(Number);
  const topAt = process.argv.indexOf('--top');
  const top = topAt > 0 ? Number(process.argv[topAt + 1]) : 30;
  if (!Number.isInteger(pid) || !Number.isInteger(reference)) {
    process.stderr.write('usage: node bench/resident-pages.ts PID REFERENCE_PID [--top N]   (as root, on Linux)\n');
    process.exit(2);
  }
  const diff = residentDiff(pid!, reference!);
  console.log(`Node binary pages resident in ${pid} and not in ${reference}: ${diff.extraKiB} KiB (the other way round: ${diff.fewerKiB} KiB)`);
  for (const [group, kib] of diff.groups.slice(0, top)) console.log(`${String(kib).padStart(7)} KiB  ${group}`);
  if (diff.sources.length) {
    console.log('\n.rodata without a symbol, runs of pages (address, pages: the first functions defined there):');
    for (const run of diff.sources) console.log(`  ${run.address.toString(16)}, ${run.pages}: ${run.names.join(', ')}`);
  }
}
