// A tiny FUSE server for "device-like" files: one flat directory of regular files whose open,
// release, ioctl and poll are answered by a handler. It speaks the kernel protocol over
// /dev/fuse directly (no libfuse): requests are read one at a time with async fs.read (libuv's
// thread pool), answered on the event loop, each reply one fs.writeSync; most synchronously, an
// ioctl whose handler returns a promise once it settles (the loop reads on meanwhile).
//
// Never touch the mounted files from the process that serves them with *synchronous* calls:
// the event loop would block in the syscall while the kernel waits for that same loop to answer.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { constants as osConstants } from 'node:os';
import { MNT_DETACH, MS, mount, umount2 } from '../../native/linux-mount.ts';
import { SyscallError } from '../../native/errors.ts';
import * as P from './protocol.ts';

const E = osConstants.errno;

/** One file in the served directory. */
export interface FuseFileSpec {
  readonly name: string;
  /** Permission bits only (e.g. 0o640); the server adds S_IFREG. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/**
 * Who is asking. `pid` is the kernel's task id of the calling *thread* (it equals the process
 * id only for the main thread), uid/gid are its fsuid/fsgid.
 */
export interface FuseRequestContext {
  readonly file: string;
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

/** A request on an open file: `fh` is what the handler's open() returned. */
export interface FuseFileContext extends FuseRequestContext {
  readonly fh: bigint;
}

/** errno values are positive (os.constants.errno.EBUSY, ...). */
export type FuseErrno = { readonly errno: number };
export type FuseOpenResult = { readonly fh: bigint } | FuseErrno;
export type FuseIoctlResult = { readonly result: number; readonly output?: Buffer } | FuseErrno;

/**
 * The device behaviour. Calls are synchronous and must not block: the whole file system waits
 * for each answer. A thrown exception answers EIO and goes to `onError`.
 */
export interface FuseFileHandler {
  /**
   * open(2). The handler decides permission (the mount has allow_other and no
   * default_permissions, so the kernel checks nothing) and picks the file handle: any u64 it
   * likes; it comes back in every later call on that open file. `flags` are the open(2) flags.
   */
  open(file: string, ctx: FuseRequestContext & { readonly flags: number }): FuseOpenResult;
  /**
   * The last close of an open file. The kernel sends RELEASE without credentials (pid, uid and
   * gid are 0), asynchronously after close(2): hence only the file and the handle.
   */
  release(file: string, fh: bigint): void;
  /**
   * ioctl(2). A FUSE regular file only gets "restricted" ioctls: the kernel sizes the data from
   * the request number. _IOW gives `input` of _IOC_SIZE bytes and `outSize` 0; _IOR gives an
   * empty input and `outSize` _IOC_SIZE. Only `result` (the ioctl's return value) and up to
   * `outSize` bytes of `output` reach the caller; a shorter output leaves the rest of the
   * caller's buffer as it was. `input` is a copy the handler may keep. A promise is answered
   * when it settles (the caller waits in ioctl(2) meanwhile; other requests go on being served):
   * for a device whose ioctl waits on something else, like a file-system freeze.
   */
  ioctl(file: string, ctx: FuseFileContext, cmd: number, input: Buffer, outSize: number): FuseIoctlResult | Promise<FuseIoctlResult>;
  /**
   * poll(2)/select(2): return the ready events among `events` (POLLIN 0x1, POLLOUT 0x4...).
   * `kh` is non-null when the caller is going to sleep: keep it, and once the file becomes
   * ready call `server.notifyPoll(kh)`; the kernel then polls again. A kh belongs to one open
   * file and stays the same for its lifetime, so keeping the latest per fh is enough.
   */
  poll(file: string, ctx: FuseFileContext, events: number, kh: bigint | null): number;
  /**
   * read(2), optional (ENOSYS without it). `size` is the caller's count (the files are opened
   * with DIRECT_IO, so nothing is cached or rounded). Return the bytes, an errno, or `pending`
   * to block the caller: answer later with `server.replyRead(unique, ...)`. A blocked caller
   * that gets a signal makes the kernel send INTERRUPT: see `interrupt`.
   */
  read?(file: string, ctx: FuseFileContext, size: number, unique: bigint): FuseReadResult;
  /** write(2), optional (ENOSYS without it): the bytes taken, or an errno. */
  write?(file: string, ctx: FuseFileContext, data: Buffer): { readonly written: number } | FuseErrno;
  /**
   * The caller of a pending request (a blocked read) got a signal: answer it now, with
   * `replyRead(unique, { errno: EINTR })`, or a SIGKILLed caller stays in D state until it is
   * answered. Unknown uniques (already answered) are ignored.
   */
  interrupt?(unique: bigint): void;
}

export type FuseReadResult = { readonly data: Buffer } | FuseErrno | { readonly pending: true };

export interface FuseMountOptions {
  readonly mountpoint: string;
  readonly files: readonly FuseFileSpec[];
  readonly handler: FuseFileHandler;
  /** The "source" shown in /proc/self/mountinfo. */
  readonly fsName?: string;
  /** Handler exceptions, malformed replies and unexpected I/O errors: the server keeps going. */
  readonly onError?: (error: unknown, what: string) => void;
}

/** 128 KiB: the kernel's default max_pages (32) worth of data per request. */
const MAX_WRITE = 128 * 1024;
/** The kernel refuses reads shorter than max_write + headers: leave a page for those. */
const READ_BUFFER_SIZE = MAX_WRITE + 4096;
/** Attribute and entry validity: 0, so mode/owner changes show at once (lookups are cheap). */
const VALID_MS = 0;
const ROOT_MODE = P.S_IFDIR | 0o755;

interface Node {
  readonly ino: bigint;
  readonly spec: FuseFileSpec;
}

export class FuseServer {
  readonly mountpoint: string;
  readonly #fd: number;
  readonly #handler: FuseFileHandler;
  readonly #onError: (error: unknown, what: string) => void;
  readonly #byName = new Map<string, Node>();
  readonly #byIno = new Map<bigint, Node>();
  readonly #dirents: P.Dirent[];
  readonly #createdSec = BigInt(Math.floor(Date.now() / 1000));
  #fdClosed = false;
  /** Set by unmount(): the loop closes /dev/fuse instead of reading again. */
  #closing = false;
  #initialized = false;
  #loopDone: Promise<void>;
  #unmounting: Promise<void> | undefined;
  #ready: { resolve: () => void; reject: (e: unknown) => void } | undefined;

  /**
   * Mounts the file system and resolves once the kernel's INIT has been answered, so the files
   * are usable as soon as this resolves. A stale mount at `mountpoint` is cleared first.
   */
  static async mount(options: FuseMountOptions): Promise<FuseServer> {
    const mountpoint = path.resolve(options.mountpoint);
    checkFiles(options.files); // before mounting: a refusal later would leave a mount behind
    recoverStaleMount(mountpoint);
    fs.mkdirSync(mountpoint, { recursive: true });
    const fd = fs.openSync('/dev/fuse', 'r+'); // libuv adds O_CLOEXEC: children never hold it
    try {
      // No default_permissions: the handler is the only permission check (like a device
      // driver's open routine). allow_other: any user may reach the files and be refused there.
      const data = `fd=${fd},rootmode=40000,user_id=0,group_id=0,allow_other`;
      mount(options.fsName ?? 'fuse-devices', mountpoint, 'fuse', MS.NOSUID | MS.NODEV, data);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
    const server = new FuseServer(mountpoint, fd, options);
    await new Promise<void>((resolve, reject) => {
      server.#ready = { resolve, reject };
    });
    return server;
  }

  private constructor(mountpoint: string, fd: number, options: FuseMountOptions) {
    this.mountpoint = mountpoint;
    this.#fd = fd;
    this.#handler = options.handler;
    this.#onError = options.onError ?? (() => {});
    this.#dirents = [
      { ino: P.FUSE_ROOT_ID, name: '.', type: P.DT.DIR },
      { ino: P.FUSE_ROOT_ID, name: '..', type: P.DT.DIR },
    ];
    options.files.forEach((spec, i) => {
      const node = { ino: BigInt(i + 2), spec };
      this.#byName.set(spec.name, node);
      this.#byIno.set(node.ino, node);
      this.#dirents.push({ ino: node.ino, name: spec.name, type: P.DT.REG });
    });
    this.#loopDone = this.#loop();
  }

  /**
   * Takes a file out of the directory, as destroy_dev(9) takes a device node out of /dev: the
   * name no longer resolves (lookups are never cached), while descriptors already open keep
   * reaching the handler, which decides what they get from then on.
   */
  removeFile(name: string): void {
    const node = this.#byName.get(name);
    if (!node) return;
    this.#byName.delete(name);
    const i = this.#dirents.findIndex((d) => d.ino === node.ino);
    if (i !== -1) this.#dirents.splice(i, 1);
  }

  /** Answers a read the handler left pending: the bytes, or an errno. */
  replyRead(unique: bigint, result: Buffer | FuseErrno): void {
    if (this.#fdClosed) return;
    const msg = Buffer.isBuffer(result) ? P.encodeReply(unique, result) : P.encodeReply(unique, undefined, checkErrno(result.errno));
    this.#write(msg, 'deferred reply to read');
  }

  /** Tells the kernel that the poll handle `kh` is ready: sleepers in poll(2) poll again. */
  notifyPoll(kh: bigint): void {
    if (this.#fdClosed) return;
    // The kernel quietly ignores a kh it no longer knows (the file was closed); ENOENT and
    // ENODEV (connection gone) are ignored all the same.
    this.#write(P.encodeNotifyPollWakeup(kh), 'notify poll');
  }

  /**
   * Detaches the mount and disconnects: open files left in other processes get ENOTCONN from
   * then on (like a device that went away). Resolves once /dev/fuse is closed; idempotent.
   */
  unmount(): Promise<void> {
    this.#unmounting ??= this.#unmount();
    return this.#unmounting;
  }

  async #unmount(): Promise<void> {
    if (this.#fdClosed) return;
    // The reader sits in read(2) until the kernel has a request. With nothing open elsewhere
    // the detach destroys the superblock and the read fails ENODEV. But if another process
    // still has a file open, the connection lives on and no request may ever come: so we keep
    // a directory fd on our own root (async: served by our own loop), detach, and then stat
    // it: that GETATTR wakes the reader, which sees #closing and closes /dev/fuse, which aborts
    // the connection for everybody.
    const root = await fs.promises.open(this.mountpoint, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY).catch(() => undefined);
    try {
      umount2(this.mountpoint, MNT_DETACH);
    } catch (err) {
      // EINVAL: not a mount point any more (someone unmounted it for us).
      if (!(err instanceof SyscallError && (err.code === 'EINVAL' || err.code === 'ENOENT'))) this.#onError(err, 'umount2');
    }
    this.#closing = true;
    if (root) {
      void root.stat().catch(() => {}); // ENOTCONN once the connection is aborted: expected
      await this.#loopDone;
      await root.close().catch(() => {});
    } else {
      await this.#loopDone;
    }
  }

  async #loop(): Promise<void> {
    const buf = Buffer.alloc(READ_BUFFER_SIZE);
    try {
      for (;;) {
        let n: number;
        try {
          n = await readAsync(this.#fd, buf);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          // ENODEV: the connection is gone (unmounted or aborted): the normal end.
          if (code === 'ENODEV') break;
          // EINTR/EAGAIN: try again. ENOENT: the request was interrupted while being read.
          if (code === 'EINTR' || code === 'EAGAIN' || code === 'ENOENT') continue;
          throw err;
        }
        this.#dispatch(buf.subarray(0, n));
        if (this.#closing) break;
      }
    } catch (err) {
      this.#onError(err, 'read /dev/fuse');
    } finally {
      this.#closeFd();
      this.#ready?.reject(new Error(`FUSE connection for ${this.mountpoint} ended before INIT`));
      this.#ready = undefined;
    }
  }

  #closeFd(): void {
    if (this.#fdClosed) return;
    this.#fdClosed = true;
    // With no read outstanding this is the last reference: the kernel aborts the connection.
    fs.closeSync(this.#fd);
  }

  /** Writes one whole reply or notification; the kernel takes it in one piece or not at all. */
  #write(msg: Buffer, what: string): void {
    try {
      fs.writeSync(this.#fd, msg);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOENT: the request was interrupted/aborted meanwhile. ENODEV: connection gone.
      if (code === 'ENOENT' || code === 'ENODEV') return;
      this.#onError(err, `write ${what}`);
    }
  }

  #dispatch(req: Buffer): void {
    let h: P.InHeader;
    try {
      h = P.decodeInHeader(req);
    } catch (err) {
      this.#onError(err, 'decode request');
      return;
    }
    const arg = req.subarray(P.SIZE.IN_HEADER, h.len);
    let reply: Buffer | number | Promise<Buffer | number> | null;
    try {
      reply = this.#answer(h, arg);
    } catch (err) {
      this.#onError(err, `opcode ${h.opcode}`);
      reply = E.EIO;
    }
    if (reply === null) return;
    if (reply instanceof Promise) {
      // Answered when it settles; the kernel matches the reply to its request by `unique`.
      void reply.then(
        (settled) => this.#reply(h, settled),
        (err: unknown) => {
          this.#onError(err, `opcode ${h.opcode}`);
          this.#reply(h, E.EIO);
        },
      );
      return;
    }
    this.#reply(h, reply);
  }

  #reply(h: P.InHeader, reply: Buffer | number): void {
    const msg = typeof reply === 'number' ? P.encodeReply(h.unique, undefined, reply) : P.encodeReply(h.unique, reply);
    this.#write(msg, `reply to opcode ${h.opcode}`);
    if (h.opcode === P.OPCODE.INIT && typeof reply !== 'number') {
      this.#initialized = true;
      this.#ready?.resolve();
      this.#ready = undefined;
    }
  }

  /** The reply payload, a positive errno, or null for the requests that get no reply; a promise of one for a slow ioctl. */
  #answer(h: P.InHeader, arg: Buffer): Buffer | number | Promise<Buffer | number> | null {
    const O = P.OPCODE;
    switch (h.opcode) {
      case O.INIT:
        return this.#init(arg);
      case O.FORGET:
      case O.BATCH_FORGET:
        return null;
      case O.INTERRUPT:
        // Only a read left pending can be interrupted; a pending ioctl runs to its end, as a
        // driver's d_ioctl that does not sleep interruptibly would.
        this.#handler.interrupt?.(P.decodeInterruptIn(arg).unique);
        return null;
      case O.READ:
        return this.#read(h, P.decodeReadIn(arg));
      case O.WRITE:
        return this.#writeFile(h, P.decodeWriteIn(arg));
      case O.DESTROY:
        return Buffer.alloc(0);
      case O.LOOKUP: {
        if (h.nodeid !== P.FUSE_ROOT_ID) return E.ENOTDIR;
        const node = this.#byName.get(P.decodeName(arg));
        return node ? P.encodeEntryOut(this.#attr(node), VALID_MS) : E.ENOENT;
      }
      case O.GETATTR:
      case O.SETATTR: {
        // SETATTR (chmod, truncate on O_TRUNC...) changes nothing: a device node's attributes
        // are not the caller's to change, and refusing would break `: > file`.
        const attr = this.#attrOf(h.nodeid);
        return attr ? P.encodeAttrOut(attr, VALID_MS) : E.ENOENT;
      }
      case O.ACCESS:
        return this.#access(h, P.decodeAccessIn(arg).mask);
      case O.OPEN:
        return this.#open(h, P.decodeOpenIn(arg).flags);
      case O.RELEASE: {
        const node = this.#byIno.get(h.nodeid);
        if (node) this.#handler.release(node.spec.name, P.decodeReleaseIn(arg).fh);
        return Buffer.alloc(0);
      }
      case O.FLUSH: // close(2) of one descriptor; nothing is buffered here
        return Buffer.alloc(0);
      case O.OPENDIR:
        return h.nodeid === P.FUSE_ROOT_ID ? P.encodeOpenOut(0n, 0) : E.ENOTDIR;
      case O.READDIR: {
        if (h.nodeid !== P.FUSE_ROOT_ID) return E.ENOTDIR;
        const { offset, size } = P.decodeReadIn(arg);
        return P.encodeDirents(this.#dirents, Number(offset), size);
      }
      case O.RELEASEDIR:
        return Buffer.alloc(0);
      case O.STATFS:
        return P.encodeStatfsOut({ files: this.#byIno.size + 1, namelen: 255 });
      case O.IOCTL:
        return this.#ioctl(h, P.decodeIoctlIn(arg));
      case O.POLL:
        return this.#poll(h, P.decodePollIn(arg));
      default:
        return E.ENOSYS;
    }
  }

  #init(arg: Buffer): Buffer | number {
    const init = P.decodeInitIn(arg);
    // A kernel with a newer major would send INIT again after our reply; none exists (7 since 2006).
    if (init.major !== P.FUSE_KERNEL_VERSION) return E.EPROTO;
    return P.encodeInitOut({
      minor: Math.min(init.minor, P.FUSE_KERNEL_MINOR_VERSION),
      maxReadahead: init.maxReadahead,
      flags: 0, // no optional features: no readdirplus, no writeback cache, no locks
      maxWrite: MAX_WRITE,
    });
  }

  #attr(node: Node): P.Attr {
    const { spec } = node;
    return {
      ino: node.ino,
      size: 0n,
      timeSec: this.#createdSec,
      timeNsec: 0,
      mode: P.S_IFREG | (spec.mode & 0o7777),
      nlink: 1,
      uid: spec.uid,
      gid: spec.gid,
    };
  }

  #attrOf(ino: bigint): P.Attr | undefined {
    if (ino === P.FUSE_ROOT_ID) {
      return { ino, size: 0n, timeSec: this.#createdSec, timeNsec: 0, mode: ROOT_MODE, nlink: 2, uid: 0, gid: 0 };
    }
    const node = this.#byIno.get(ino);
    return node ? this.#attr(node) : undefined;
  }

  /** access(2): the classic owner/group/other check (primary group only); root passes R/W. */
  #access(h: P.InHeader, mask: number): Buffer | number {
    const attr = this.#attrOf(h.nodeid);
    if (!attr) return E.ENOENT;
    const want = mask & 7;
    if (want === 0) return Buffer.alloc(0); // F_OK
    let granted: number;
    if (h.uid === 0) granted = 6 | (attr.mode & 0o111 ? 1 : 0);
    else if (h.uid === attr.uid) granted = (attr.mode >> 6) & 7;
    else if (h.gid === attr.gid) granted = (attr.mode >> 3) & 7;
    else granted = attr.mode & 7;
    return (want & ~granted) === 0 ? Buffer.alloc(0) : E.EACCES;
  }

  #ctx(h: P.InHeader, node: Node): FuseRequestContext {
    return { file: node.spec.name, pid: h.pid, uid: h.uid, gid: h.gid };
  }

  #open(h: P.InHeader, flags: number): Buffer | number {
    if (h.nodeid === P.FUSE_ROOT_ID) return E.EISDIR;
    const node = this.#byIno.get(h.nodeid);
    if (!node) return E.ENOENT;
    const result = this.#handler.open(node.spec.name, { ...this.#ctx(h, node), flags });
    if ('errno' in result) return checkErrno(result.errno);
    // DIRECT_IO: no page cache between callers and us; NONSEEKABLE: like a character device.
    return P.encodeOpenOut(result.fh, P.FOPEN.DIRECT_IO | P.FOPEN.NONSEEKABLE);
  }

  #ioctl(h: P.InHeader, req: P.IoctlIn): Buffer | number | Promise<Buffer | number> {
    const node = this.#byIno.get(h.nodeid);
    if (!node) return E.ENOTTY; // the root directory has no ioctls
    const ctx = { ...this.#ctx(h, node), fh: req.fh };
    const result = this.#handler.ioctl(node.spec.name, ctx, req.cmd, Buffer.from(req.data), req.outSize);
    return result instanceof Promise ? result.then((r) => this.#ioctlReply(req, r)) : this.#ioctlReply(req, result);
  }

  #ioctlReply(req: P.IoctlIn, result: FuseIoctlResult): Buffer | number {
    if ('errno' in result) return checkErrno(result.errno);
    if (!Number.isInteger(result.result) || result.result < -(2 ** 31) || result.result >= 2 ** 31) {
      throw new RangeError(`ioctl result ${result.result} is not an int32`);
    }
    // The kernel allotted exactly outSize bytes for the answer. Sending more (for _IOW, any at
    // all) is a protocol error the caller sees as EIO, so the excess is cut off here.
    let output = result.output;
    if (output && output.length > req.outSize) {
      this.#onError(new RangeError(`ioctl 0x${req.cmd.toString(16)} output of ${output.length} bytes cut to ${req.outSize}`), 'ioctl');
      output = output.subarray(0, req.outSize);
    }
    return P.encodeIoctlOut(result.result, output && output.length > 0 ? output : undefined);
  }

  #poll(h: P.InHeader, req: ReturnType<typeof P.decodePollIn>): Buffer | number {
    const node = this.#byIno.get(h.nodeid);
    if (!node) return E.ENOSYS; // never for the root; ENOSYS would turn poll off for the mount
    const kh = req.flags & P.POLL_FLAGS.SCHEDULE_NOTIFY ? req.kh : null;
    const revents = this.#handler.poll(node.spec.name, { ...this.#ctx(h, node), fh: req.fh }, req.events, kh);
    return P.encodePollOut(revents);
  }

  #read(h: P.InHeader, req: ReturnType<typeof P.decodeReadIn>): Buffer | number | null {
    const node = this.#byIno.get(h.nodeid);
    if (!node) return E.EISDIR;
    if (!this.#handler.read) return E.ENOSYS;
    const result = this.#handler.read(node.spec.name, { ...this.#ctx(h, node), fh: req.fh }, req.size, h.unique);
    if ('pending' in result) return null;
    if ('errno' in result) return checkErrno(result.errno);
    return result.data.subarray(0, req.size);
  }

  #writeFile(h: P.InHeader, req: ReturnType<typeof P.decodeWriteIn>): Buffer | number {
    const node = this.#byIno.get(h.nodeid);
    if (!node) return E.EISDIR;
    if (!this.#handler.write) return E.ENOSYS;
    const result = this.#handler.write(node.spec.name, { ...this.#ctx(h, node), fh: req.fh }, Buffer.from(req.data));
    if ('errno' in result) return checkErrno(result.errno);
    return P.encodeWriteOut(result.written);
  }

  /** True once INIT has been answered (mount() has resolved). */
  get initialized(): boolean {
    return this.#initialized;
  }
}

function checkFiles(files: readonly FuseFileSpec[]): void {
  const seen = new Set<string>();
  for (const { name } of files) {
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0') || Buffer.byteLength(name) > 255) {
      throw new RangeError(`invalid file name ${JSON.stringify(name)}`);
    }
    if (seen.has(name)) throw new RangeError(`duplicate file name ${JSON.stringify(name)}`);
    seen.add(name);
  }
}

function checkErrno(errno: number): number {
  if (!Number.isInteger(errno) || errno <= 0 || errno >= 4096) throw new RangeError(`handler returned errno ${errno}`);
  return errno;
}

function readAsync(fd: number, buf: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    // position null: plain read(2) (each read returns exactly one request).
    fs.read(fd, buf, 0, buf.length, null, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

// ---------------------------------------------------------------------------------------------
// Mount table

export interface MountEntry {
  readonly mountId: number;
  /** "major:minor" of the superblock (for FUSE, the fusectl connection is the minor). */
  readonly device: string;
  readonly mountpoint: string;
  readonly fstype: string;
  readonly source: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Entries of /proc/self/mountinfo (reading it touches no mounted file system). */
export function readMountinfo(): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = line.split(' ');
    const sep = fields.indexOf('-');
    if (sep < 6) continue;
    entries.push({
      mountId: Number(fields[0]),
      device: fields[2] ?? '',
      mountpoint: unescapeMountinfo(fields[4] ?? ''),
      fstype: fields[sep + 1] ?? '',
      source: unescapeMountinfo(fields[sep + 2] ?? ''),
    });
  }
  return entries;
}

/** The path as mountinfo spells it: absolute, with the parent's symlinks resolved. */
function canonicalMountpoint(p: string): string {
  const abs = path.resolve(p);
  try {
    // Only the parent: the path itself may be a dead mount where every stat fails ENOTCONN.
    return path.join(fs.realpathSync(path.dirname(abs)), path.basename(abs));
  } catch {
    return abs;
  }
}

/** FUSE mounts (fstype fuse or fuse.*) sitting exactly at `p`, topmost last. */
export function fuseMountsAt(p: string): MountEntry[] {
  const target = canonicalMountpoint(p);
  return readMountinfo().filter((m) => m.mountpoint === target && (m.fstype === 'fuse' || m.fstype.startsWith('fuse.')));
}

/**
 * Clears what a crashed (or still running) earlier server left at `p`: every FUSE mount at
 * exactly that path is detached, dead ones (stat: ENOTCONN) and live ones alike, without ever
 * stat-ing a live one (its server might hang). Other file systems are left alone. Returns the
 * number of mounts detached.
 */
export function recoverStaleMount(p: string): number {
  const target = canonicalMountpoint(p);
  let detached = 0;
  // Mounts can be stacked: detach until none is left (bounded, in case detaching fails quietly).
  for (let i = 0; i < 16 && fuseMountsAt(target).length > 0; i++) {
    umount2(target, MNT_DETACH);
    detached++;
  }
  // Belt and braces: a dead FUSE mount that mountinfo did not show under this exact name.
  try {
    fs.statSync(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTCONN') {
      umount2(target, MNT_DETACH);
      detached++;
    }
  }
  return detached;
}
