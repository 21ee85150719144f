// The FUSE kernel protocol as it travels over /dev/fuse: the structs we read and write, laid
// out as in include/uapi/linux/fuse.h (all little-endian on the machines we run on, all padded
// to 8 bytes by the kernel's own rule). Only Buffer reads/writes here: no I/O, no koffi.
//
// Every request is one read(2): fuse_in_header + the opcode's argument struct (+ names or data).
// Every reply is one write(2): fuse_out_header + the opcode's reply struct (or nothing).

/** Protocol version we speak. 7.31 has everything used here (ioctl, poll, batch forget). */
export const FUSE_KERNEL_VERSION = 7;
export const FUSE_KERNEL_MINOR_VERSION = 31;

export const FUSE_ROOT_ID = 1n;

export const OPCODE = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  DESTROY: 38,
  IOCTL: 39,
  POLL: 40,
  BATCH_FORGET: 42,
  READDIRPLUS: 44,
  LSEEK: 46,
  STATX: 52,
} as const;

/** Unsolicited messages (fuse_out_header.unique 0, .error = the code). */
export const NOTIFY = { POLL: 1 } as const;

/** fuse_poll_in.flags */
export const POLL_FLAGS = { SCHEDULE_NOTIFY: 1 } as const;

/** fuse_open_out.open_flags */
export const FOPEN = { DIRECT_IO: 1 << 0, KEEP_CACHE: 1 << 1, NONSEEKABLE: 1 << 2 } as const;

/** fuse_getattr_in.getattr_flags: fh is valid. */
export const GETATTR_FH = 1;

/** fuse_ioctl_in.flags */
export const IOCTL_FLAGS = { COMPAT: 1 << 0, UNRESTRICTED: 1 << 1, RETRY: 1 << 2, BIT32: 1 << 3, DIR: 1 << 4 } as const;

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
/** d_type values for fuse_dirent.type */
export const DT = { DIR: 4, REG: 8 } as const;

export const SIZE = {
  IN_HEADER: 40,
  OUT_HEADER: 16,
  ATTR: 88,
  ENTRY_OUT: 128,
  ATTR_OUT: 104,
  INIT_OUT: 64,
  OPEN_OUT: 16,
  IOCTL_IN: 32,
  IOCTL_OUT: 16,
  POLL_IN: 24,
  POLL_OUT: 8,
  STATFS_OUT: 80,
  DIRENT: 24,
  NOTIFY_POLL_WAKEUP: 8,
  WRITE_IN: 40,
  WRITE_OUT: 8,
} as const;

// ---------------------------------------------------------------------------------------------
// Requests (kernel -> server)

export interface InHeader {
  /** Total request length, header included. */
  readonly len: number;
  readonly opcode: number;
  readonly unique: bigint;
  readonly nodeid: bigint;
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
  /** Length of extensions after the argument, in 8-byte units (0 unless we asked for any). */
  readonly totalExtlen: number;
}

export function decodeInHeader(buf: Buffer): InHeader {
  if (buf.length < SIZE.IN_HEADER) throw new RangeError(`FUSE request of ${buf.length} bytes is shorter than its header`);
  return {
    len: buf.readUInt32LE(0),
    opcode: buf.readUInt32LE(4),
    unique: buf.readBigUInt64LE(8),
    nodeid: buf.readBigUInt64LE(16),
    uid: buf.readUInt32LE(24),
    gid: buf.readUInt32LE(28),
    pid: buf.readUInt32LE(32),
    totalExtlen: buf.readUInt16LE(36),
  };
}

/** fuse_init_in: the first 16 bytes are common to every minor version; flags2 came with 7.36. */
export interface InitIn {
  readonly major: number;
  readonly minor: number;
  readonly maxReadahead: number;
  readonly flags: number;
  readonly flags2: number;
}

export function decodeInitIn(arg: Buffer): InitIn {
  return {
    major: arg.readUInt32LE(0),
    minor: arg.readUInt32LE(4),
    maxReadahead: arg.readUInt32LE(8),
    flags: arg.readUInt32LE(12),
    flags2: arg.length >= 20 ? arg.readUInt32LE(16) : 0,
  };
}

/** A NUL-terminated name (LOOKUP's whole argument). */
export function decodeName(arg: Buffer): string {
  const end = arg.indexOf(0);
  return arg.toString('utf8', 0, end === -1 ? arg.length : end);
}

/** fuse_getattr_in (16): getattr_flags u32, dummy u32, fh u64. */
export function decodeGetattrIn(arg: Buffer): { readonly flags: number; readonly fh: bigint } {
  if (arg.length < 16) return { flags: 0, fh: 0n };
  return { flags: arg.readUInt32LE(0), fh: arg.readBigUInt64LE(8) };
}

/** fuse_open_in (8): flags u32 (the open(2) flags), open_flags u32. */
export function decodeOpenIn(arg: Buffer): { readonly flags: number } {
  return { flags: arg.readUInt32LE(0) };
}

/** fuse_release_in (24): fh u64, flags u32, release_flags u32, lock_owner u64. */
export function decodeReleaseIn(arg: Buffer): { readonly fh: bigint; readonly flags: number } {
  return { fh: arg.readBigUInt64LE(0), flags: arg.readUInt32LE(8) };
}

/** fuse_read_in (40): fh u64, offset u64, size u32, ... (READDIR uses it too). */
export function decodeReadIn(arg: Buffer): { readonly fh: bigint; readonly offset: bigint; readonly size: number } {
  return { fh: arg.readBigUInt64LE(0), offset: arg.readBigUInt64LE(8), size: arg.readUInt32LE(16) };
}

/** fuse_write_in (40): fh u64, offset u64, size u32, write_flags u32, lock_owner u64, flags u32, padding u32; then data. */
export function decodeWriteIn(arg: Buffer): { readonly fh: bigint; readonly size: number; readonly data: Buffer } {
  const size = arg.readUInt32LE(16);
  return { fh: arg.readBigUInt64LE(0), size, data: arg.subarray(SIZE.WRITE_IN, SIZE.WRITE_IN + size) };
}

/** fuse_write_out (8): size u32 (bytes taken), padding u32. */
export function encodeWriteOut(size: number): Buffer {
  const out = Buffer.alloc(SIZE.WRITE_OUT);
  out.writeUInt32LE(size, 0);
  return out;
}

/** fuse_access_in (8): mask u32 (R_OK 4, W_OK 2, X_OK 1), padding u32. */
export function decodeAccessIn(arg: Buffer): { readonly mask: number } {
  return { mask: arg.readUInt32LE(0) };
}

/** fuse_interrupt_in (8): the unique of the request to interrupt. */
export function decodeInterruptIn(arg: Buffer): { readonly unique: bigint } {
  return { unique: arg.readBigUInt64LE(0) };
}

export interface IoctlIn {
  readonly fh: bigint;
  readonly flags: number;
  /** The request number, as the unsigned 32 bits the kernel passes on. */
  readonly cmd: number;
  /** The caller's pointer argument; meaningless to us (restricted ioctls copy the data). */
  readonly arg: bigint;
  readonly inSize: number;
  readonly outSize: number;
  /** in_size bytes copied from the caller (the _IOW side). */
  readonly data: Buffer;
}

/** fuse_ioctl_in (32): fh u64, flags u32, cmd u32, arg u64, in_size u32, out_size u32; then data. */
export function decodeIoctlIn(arg: Buffer): IoctlIn {
  const inSize = arg.readUInt32LE(24);
  return {
    fh: arg.readBigUInt64LE(0),
    flags: arg.readUInt32LE(8),
    cmd: arg.readUInt32LE(12),
    arg: arg.readBigUInt64LE(16),
    inSize,
    outSize: arg.readUInt32LE(28),
    data: arg.subarray(SIZE.IOCTL_IN, SIZE.IOCTL_IN + inSize),
  };
}

/** fuse_poll_in (24): fh u64, kh u64, flags u32, events u32. */
export function decodePollIn(arg: Buffer): { readonly fh: bigint; readonly kh: bigint; readonly flags: number; readonly events: number } {
  return { fh: arg.readBigUInt64LE(0), kh: arg.readBigUInt64LE(8), flags: arg.readUInt32LE(16), events: arg.readUInt32LE(20) };
}

// ---------------------------------------------------------------------------------------------
// Replies (server -> kernel)

/** fuse_out_header (16): len u32, error i32 (0 or a negative errno), unique u64. */
export function encodeOutHeader(buf: Buffer, len: number, error: number, unique: bigint): void {
  buf.writeUInt32LE(len, 0);
  buf.writeInt32LE(error, 4);
  buf.writeBigUInt64LE(unique, 8);
}

/** A whole reply: header + payload. `errno` is positive; the header carries it negated. */
export function encodeReply(unique: bigint, payload: Buffer | undefined, errno = 0): Buffer {
  const body = errno === 0 && payload ? payload : Buffer.alloc(0);
  const out = Buffer.alloc(SIZE.OUT_HEADER + body.length);
  encodeOutHeader(out, out.length, errno === 0 ? 0 : -errno, unique);
  body.copy(out, SIZE.OUT_HEADER);
  return out;
}

/** FUSE_NOTIFY_POLL: an unsolicited message (unique 0) whose "error" is the notify code. */
export function encodeNotifyPollWakeup(kh: bigint): Buffer {
  const out = Buffer.alloc(SIZE.OUT_HEADER + SIZE.NOTIFY_POLL_WAKEUP);
  encodeOutHeader(out, out.length, NOTIFY.POLL, 0n);
  out.writeBigUInt64LE(kh, SIZE.OUT_HEADER);
  return out;
}

export interface InitOut {
  readonly minor: number;
  readonly maxReadahead: number;
  readonly flags: number;
  readonly maxWrite: number;
}

/** fuse_init_out (64 bytes since 7.23; the kernel accepts the full size from any server). */
export function encodeInitOut(init: InitOut): Buffer {
  const b = Buffer.alloc(SIZE.INIT_OUT);
  b.writeUInt32LE(FUSE_KERNEL_VERSION, 0);
  b.writeUInt32LE(init.minor, 4);
  b.writeUInt32LE(init.maxReadahead, 8);
  b.writeUInt32LE(init.flags, 12);
  b.writeUInt16LE(0, 16); // max_background: 0 = kernel default
  b.writeUInt16LE(0, 18); // congestion_threshold: 0 = kernel default
  b.writeUInt32LE(init.maxWrite, 20);
  b.writeUInt32LE(1, 24); // time_gran: 1 ns
  // max_pages, map_alignment, flags2, max_stack_depth, request_timeout: unused (no flags set).
  return b;
}

export interface Attr {
  readonly ino: bigint;
  readonly size: bigint;
  /** Seconds since the epoch, used for atime, mtime and ctime alike. */
  readonly timeSec: bigint;
  readonly timeNsec: number;
  /** Full st_mode: type bits | permission bits. */
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
}

/** fuse_attr (88 bytes) at `offset`. */
export function writeAttr(buf: Buffer, offset: number, a: Attr): void {
  buf.writeBigUInt64LE(a.ino, offset);
  buf.writeBigUInt64LE(a.size, offset + 8);
  buf.writeBigUInt64LE((a.size + 511n) / 512n, offset + 16); // blocks
  buf.writeBigUInt64LE(a.timeSec, offset + 24); // atime
  buf.writeBigUInt64LE(a.timeSec, offset + 32); // mtime
  buf.writeBigUInt64LE(a.timeSec, offset + 40); // ctime
  buf.writeUInt32LE(a.timeNsec, offset + 48);
  buf.writeUInt32LE(a.timeNsec, offset + 52);
  buf.writeUInt32LE(a.timeNsec, offset + 56);
  buf.writeUInt32LE(a.mode, offset + 60);
  buf.writeUInt32LE(a.nlink, offset + 64);
  buf.writeUInt32LE(a.uid, offset + 68);
  buf.writeUInt32LE(a.gid, offset + 72);
  buf.writeUInt32LE(0, offset + 76); // rdev
  buf.writeUInt32LE(4096, offset + 80); // blksize
  buf.writeUInt32LE(0, offset + 84); // flags
}

/** Validity is split into seconds and nanoseconds; we only ever need small values. */
function writeValid(buf: Buffer, secOffset: number, nsecOffset: number, ms: number): void {
  buf.writeBigUInt64LE(BigInt(Math.floor(ms / 1000)), secOffset);
  buf.writeUInt32LE((ms % 1000) * 1_000_000, nsecOffset);
}

/** fuse_entry_out (128): nodeid, generation, entry_valid, attr_valid, their nsecs, attr. */
export function encodeEntryOut(attr: Attr, validMs: number): Buffer {
  const b = Buffer.alloc(SIZE.ENTRY_OUT);
  b.writeBigUInt64LE(attr.ino, 0);
  b.writeBigUInt64LE(0n, 8); // generation: inode numbers are never reused
  writeValid(b, 16, 32, validMs); // entry_valid
  writeValid(b, 24, 36, validMs); // attr_valid
  writeAttr(b, 40, attr);
  return b;
}

/** fuse_attr_out (104): attr_valid u64, attr_valid_nsec u32, dummy u32, attr. */
export function encodeAttrOut(attr: Attr, validMs: number): Buffer {
  const b = Buffer.alloc(SIZE.ATTR_OUT);
  writeValid(b, 0, 8, validMs);
  writeAttr(b, 16, attr);
  return b;
}

/** fuse_open_out (16): fh u64, open_flags u32, backing_id i32 (0: no passthrough). */
export function encodeOpenOut(fh: bigint, openFlags: number): Buffer {
  const b = Buffer.alloc(SIZE.OPEN_OUT);
  b.writeBigUInt64LE(fh, 0);
  b.writeUInt32LE(openFlags, 8);
  return b;
}

/**
 * fuse_ioctl_out (16): result i32, flags u32, in_iovs u32, out_iovs u32; then the out data.
 * For restricted ioctls (all a regular FUSE file gets) flags and iovs stay 0, and the data may
 * be at most the out_size the kernel asked for: more makes the kernel fail the caller with EIO.
 */
export function encodeIoctlOut(result: number, data: Buffer | undefined): Buffer {
  const b = Buffer.alloc(SIZE.IOCTL_OUT + (data?.length ?? 0));
  b.writeInt32LE(result, 0);
  data?.copy(b, SIZE.IOCTL_OUT);
  return b;
}

/** fuse_poll_out (8): revents u32, padding u32. */
export function encodePollOut(revents: number): Buffer {
  const b = Buffer.alloc(SIZE.POLL_OUT);
  b.writeUInt32LE(revents >>> 0, 0);
  return b;
}

export interface Statfs {
  readonly files: number;
  readonly namelen: number;
}

/** fuse_kstatfs (80): blocks, bfree, bavail, files, ffree (u64); bsize, namelen, frsize, padding, spare[6]. */
export function encodeStatfsOut(s: Statfs): Buffer {
  const b = Buffer.alloc(SIZE.STATFS_OUT);
  b.writeBigUInt64LE(BigInt(s.files), 24);
  b.writeUInt32LE(4096, 40); // bsize
  b.writeUInt32LE(s.namelen, 44);
  b.writeUInt32LE(4096, 48); // frsize
  return b;
}

export interface Dirent {
  readonly ino: bigint;
  readonly name: string;
  readonly type: number;
}

/** Bytes one fuse_dirent takes: 24 + name, padded to 8 (FUSE_DIRENT_ALIGN). */
export function direntSize(name: string): number {
  return (SIZE.DIRENT + Buffer.byteLength(name) + 7) & ~7;
}

/**
 * READDIR reply: entries from index `start` that fit in `maxSize` bytes. Each entry's `off` is
 * the offset of the *next* entry: the kernel hands it back as the offset of the next READDIR.
 */
export function encodeDirents(entries: readonly Dirent[], start: number, maxSize: number): Buffer {
  const parts: Buffer[] = [];
  let used = 0;
  for (let i = start; i < entries.length; i++) {
    const e = entries[i];
    if (!e) break;
    const size = direntSize(e.name);
    if (used + size > maxSize) break;
    const b = Buffer.alloc(size);
    const nameLen = b.write(e.name, SIZE.DIRENT, 'utf8');
    b.writeBigUInt64LE(e.ino, 0);
    b.writeBigUInt64LE(BigInt(i + 1), 8);
    b.writeUInt32LE(nameLen, 16);
    b.writeUInt32LE(e.type, 20);
    parts.push(b);
    used += size;
  }
  return Buffer.concat(parts, used);
}
