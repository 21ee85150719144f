// FuseServer against the real kernel: the server runs in a child process (the fixture), this
// process opens, ioctls and polls its files for real. Needs root and /dev/fuse (Linux).
// Nothing here sleeps: every wait is on an event (a line from the fixture, a poll, an exit)
// bounded by a timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { within } from '../support/process.ts';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as libc from '../../src/native/libc.ts';
import { SyscallError } from '../../src/native/errors.ts';
import { POLL } from '../../src/native/platform.ts';
import { fuseMountsAt, recoverStaleMount } from '../../src/emulator/fuse/fuse-server.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/fuse-echo-server.ts', import.meta.url));
const IOC_READ = 0x80407602; // _IOR('v', 2, 64)
const IOC_WRITE = 0x40407603; // _IOW('v', 3, 64)
const IOC_THROW = 0x7609; // _IO('v', 9): the fixture's handler throws
const IOC_UNKNOWN = 0x80407605; // _IOR('v', 5, 64)
const WAIT_MS = 10_000;

// Skipped on a machine without FUSE, but never in CI, where it must run.
const skip =
  !process.env.CI && (process.platform !== 'linux' || process.getuid?.() !== 0 || !fs.existsSync('/dev/fuse')) ? 'needs Linux, root and /dev/fuse' : false;

/** The fixture in a child process, with its stdout as a stream of lines to wait on. */
class ServerProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #cursor = 0;
  #wake: (() => void) | undefined;
  #stderr = '';

  constructor(dir: string) {
    this.child = spawn(process.execPath, [FIXTURE, dir], { stdio: ['pipe', 'pipe', 'pipe'] });
    let partial = '';
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      this.lines.push(...parts);
      this.#wake?.();
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.#stderr += chunk));
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        resolve({ code, signal });
        this.#wake?.();
      });
    });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The next line (after the last one waited for) that matches `re`. */
  async waitFor(re: RegExp, ms = WAIT_MS): Promise<string> {
    const found = new Promise<string>((resolve, reject) => {
      const check = () => {
        for (; this.#cursor < this.lines.length; this.#cursor++) {
          const line = this.lines[this.#cursor] ?? '';
          if (re.test(line)) {
            this.#cursor++;
            this.#wake = undefined;
            return resolve(line);
          }
        }
        if (!this.running) reject(new Error(`server exited without printing ${re}; stderr: ${this.#stderr}`));
      };
      this.#wake = check;
      check();
    });
    return within(found, ms, `${re} from the server (saw: ${this.lines.join(' | ')}; stderr: ${this.#stderr})`);
  }

  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }
}

/** poll(2) for POLLIN on `fd` with no timeout, cancellable through a pipe so no test can hang. */
function pollIn(fd: number): { readonly result: Promise<number>; cancel(): void } {
  const [rd, wr] = libc.pipe();
  const fds = Buffer.alloc(16);
  fds.writeInt32LE(fd, 0);
  fds.writeInt16LE(POLL.IN, 4);
  fds.writeInt32LE(rd, 8);
  fds.writeInt16LE(POLL.IN, 12);
  let open = true;
  const result = libc.pollAsync(fds, -1).then((r) => {
    open = false;
    libc.close(rd);
    libc.close(wr);
    if (r.ready < 0) throw new SyscallError('poll', r.errno);
    return fds.readInt16LE(6); // revents of the device
  });
  return { result, cancel: () => open && libc.write(wr, Buffer.from([1])) };
}

/** poll(2) with timeout 0: the device's revents right now. */
async function pollNow(fd: number): Promise<number> {
  const fds = Buffer.alloc(8);
  fds.writeInt32LE(fd, 0);
  fds.writeInt16LE(POLL.IN, 4);
  await libc.pollAsync(fds, 0);
  return fds.readInt16LE(6);
}

function errnoCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof SyscallError) return err.code;
    throw err;
  }
  return 'no error';
}

interface Env {
  readonly dir: string;
  start(): Promise<ServerProcess>;
  open(file: string): number;
  close(fd: number): void;
  pollIn(fd: number): ReturnType<typeof pollIn>;
}

/** A fresh mount directory; afterwards everything is undone, whatever happened. */
async function withMountDir(fn: (env: Env) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fuse-test-'));
  const servers: ServerProcess[] = [];
  const fds = new Set<number>();
  const polls: Array<ReturnType<typeof pollIn>> = [];
  const env: Env = {
    dir,
    async start() {
      const server = new ServerProcess(dir);
      servers.push(server);
      await server.waitFor(/^ready$/);
      return server;
    },
    open(file) {
      const fd = libc.open(path.join(dir, file), libc.facts.O_RDWR | libc.facts.O_CLOEXEC);
      fds.add(fd);
      return fd;
    },
    close(fd) {
      fds.delete(fd); // before close: a failing close still frees the number for reuse
      libc.close(fd);
    },
    pollIn(fd) {
      const p = pollIn(fd);
      polls.push(p);
      return p;
    },
  };
  try {
    await fn(env);
  } finally {
    for (const p of polls) p.cancel();
    await Promise.allSettled(polls.map((p) => p.result));
    for (const fd of fds) errnoCode(() => libc.close(fd)); // ENOTCONN once the server is gone: still closed
    for (const s of servers) {
      if (s.running) s.child.kill('SIGKILL');
      await s.exited;
    }
    recoverStaleMount(dir);
    fs.rmdirSync(dir);
  }
}

test('lists the files; one opener at a time; non-root is refused by the handler', { skip }, async () => {
  await withMountDir(async (env) => {
    const server = await env.start();
    assert.deepEqual(fs.readdirSync(env.dir).sort(), ['dev0', 'dev1']);
    const st = fs.statSync(path.join(env.dir, 'dev0'));
    assert.equal(st.mode, 0o100640);
    assert.equal(st.uid, 0);
    assert.equal(st.size, 0);
    assert.equal(st.nlink, 1);
    assert.equal(fs.statSync(env.dir).mode, 0o040755);
    assert.equal(fuseMountsAt(env.dir).length, 1);

    const fd = env.open('dev0');
    const opened = await server.waitFor(/^open dev0 /);
    // The header's pid is the calling thread's id: the main thread here, so the process id.
    assert.match(opened, new RegExp(`pid=${process.pid} `));
    assert.equal(errnoCode(() => env.open('dev0')), 'EBUSY');
    const fd1 = env.open('dev1'); // the other file is independent
    env.close(fd1);
    env.close(fd);
    // RELEASE is queued by close() before it returns, so the next open already sees it.
    env.close(env.open('dev0'));

    // A 0640 root:root device: the handler refuses other users (the kernel checks nothing).
    const shell = spawn('/bin/sh', ['-c', 'exec 3<>"$1"', 'sh', path.join(env.dir, 'dev0')], {
      uid: 65534,
      gid: 65534,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    shell.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const code = await within(new Promise((resolve) => shell.on('exit', resolve)), WAIT_MS, 'the non-root shell');
    assert.notEqual(code, 0);
    assert.match(stderr, /Permission denied/);
  });
});

test('read and write ioctls move 64 bytes both ways; handler errors do not kill the server', { skip }, async () => {
  await withMountDir(async (env) => {
    const server = await env.start();
    const fd = env.open('dev0');

    const written = Buffer.alloc(64);
    for (let i = 0; i < 64; i++) written[i] = (i * 7 + 1) & 0xff;
    const sent = Buffer.from(written);
    assert.equal(libc.ioctl(fd, IOC_WRITE, sent), 0);
    // The handler got exactly the 64 bytes, with nothing to send back.
    assert.equal(await server.waitFor(/^write dev0 /), `write dev0 in=64 out=0 ${written.toString('hex')}`);
    assert.deepEqual(sent, written, 'an _IOW ioctl leaves the caller buffer alone');

    const got = Buffer.alloc(64, 0xee);
    assert.equal(libc.ioctl(fd, IOC_READ, got), 0);
    assert.equal(await server.waitFor(/^read dev0 /), 'read dev0 in=0 out=64');
    assert.equal(got.readUInt32LE(0), 1, 'read counter');
    assert.deepEqual(got.subarray(4), written.subarray(4));
    assert.equal(libc.ioctl(fd, IOC_READ, got), 0);
    assert.equal(got.readUInt32LE(0), 2);

    assert.equal(errnoCode(() => libc.ioctl(fd, IOC_UNKNOWN, Buffer.alloc(64))), 'ENOTTY');
    assert.equal(errnoCode(() => libc.ioctl(fd, IOC_THROW, Buffer.alloc(8))), 'EIO');
    assert.match(await server.waitFor(/^error /), /handler failure on purpose/);
    // Still serving.
    assert.equal(libc.ioctl(fd, IOC_READ, got), 0);
    assert.equal(got.readUInt32LE(0), 3);
  });
});

test('poll: readable after a write; an infinite poll sleeps until the server notifies', { skip }, async () => {
  await withMountDir(async (env) => {
    const server = await env.start();
    const fd = env.open('dev1');
    assert.equal(await pollNow(fd), 0);
    assert.equal(libc.ioctl(fd, IOC_WRITE, Buffer.alloc(64, 1)), 0);
    assert.equal(await pollNow(fd) & POLL.IN, POLL.IN);
    libc.ioctl(fd, IOC_READ, Buffer.alloc(64));
    assert.equal(await pollNow(fd), 0);

    // Wake-up by notification from outside (the fixture's stdin).
    const first = env.pollIn(fd);
    let settled = false;
    void first.result.finally(() => (settled = true));
    await server.waitFor(/^poll-wait dev1 /); // the handler now holds the kh; the caller sleeps
    assert.equal(settled, false);
    server.send('kick dev1');
    assert.equal((await within(first.result, WAIT_MS, 'poll to wake on kick')) & POLL.IN, POLL.IN);
    libc.ioctl(fd, IOC_READ, Buffer.alloc(64));

    // Wake-up caused by a write ioctl from another thread while the poll sleeps.
    const second = env.pollIn(fd);
    await server.waitFor(/^poll-wait dev1 /);
    assert.equal(libc.ioctl(fd, IOC_WRITE, Buffer.alloc(64, 2)), 0);
    assert.equal((await within(second.result, WAIT_MS, 'poll to wake on write')) & POLL.IN, POLL.IN);
  });
});

test('SIGTERM unmounts cleanly and the process exits by itself', { skip }, async () => {
  await withMountDir(async (env) => {
    const server = await env.start();
    env.close(env.open('dev0'));
    server.child.kill('SIGTERM');
    await server.waitFor(/^unmounted$/);
    assert.deepEqual(await within(server.exited, WAIT_MS, 'the server to exit'), { code: 0, signal: null });
    assert.equal(fuseMountsAt(env.dir).length, 0);
    assert.deepEqual(fs.readdirSync(env.dir), []);
  });
});

test('unmount disconnects clients that still hold a file: their poll returns POLLERR', { skip }, async () => {
  await withMountDir(async (env) => {
    const server = await env.start();
    const fd = env.open('dev0');
    const pending = env.pollIn(fd);
    await server.waitFor(/^poll-wait dev0 /);
    server.child.kill('SIGTERM');
    assert.deepEqual(await within(server.exited, WAIT_MS, 'the server to exit'), { code: 0, signal: null });
    assert.equal((await within(pending.result, WAIT_MS, 'the poll to end')) & POLL.ERR, POLL.ERR);
    assert.equal(errnoCode(() => libc.ioctl(fd, IOC_READ, Buffer.alloc(64))), 'ENOTCONN');
    assert.equal(fuseMountsAt(env.dir).length, 0);
  });
});

test('a mount left by a killed server is recovered by the next one', { skip }, async () => {
  await withMountDir(async (env) => {
    const crashed = await env.start();
    crashed.child.kill('SIGKILL');
    await within(crashed.exited, WAIT_MS, 'the killed server to exit');
    assert.equal(errnoCode(() => libc.open(path.join(env.dir, 'dev0'), libc.facts.O_RDWR)), 'ENOTCONN');
    assert.throws(() => fs.statSync(env.dir), { code: 'ENOTCONN' });
    assert.equal(fuseMountsAt(env.dir).length, 1);

    const server = await env.start();
    assert.deepEqual(fs.readdirSync(env.dir).sort(), ['dev0', 'dev1']);
    assert.equal(fuseMountsAt(env.dir).length, 1, 'the dead mount is gone, not stacked under the new one');
    const fd = env.open('dev0');
    assert.equal(libc.ioctl(fd, IOC_WRITE, Buffer.alloc(64, 9)), 0);
    env.close(fd);
    server.child.kill('SIGTERM');
    await within(server.exited, WAIT_MS, 'the server to exit');
    assert.equal(fuseMountsAt(env.dir).length, 0);
  });
});
