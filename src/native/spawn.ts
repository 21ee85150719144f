// Starting a program with posix_spawn(3), and learning how it ended, without Node's child_process.
//
// Why: libuv starts every child with a plain fork(2) of the whole Node process (no vfork, no
// posix_spawn on Linux or FreeBSD), copying the page tables of 50 MB and more and taking
// copy-on-write faults until the child has exec'd; for a FREEZE with 16 hooks that was most of
// the time the host waited (docs/benchmarks.md, Hook dispatch). posix_spawn shares the parent's
// memory until the exec (glibc: clone(CLONE_VM|CLONE_VFORK); FreeBSD: vfork semantics), so a
// start costs about what it costs a shell. And the daemon no longer loads node:child_process.
//
// How the end is learnt: SIGCHLD, then waitpid(pid, WNOHANG) for each process started here (never
// waitpid(-1): libuv reaps its own children the same way, by pid). A signal handler does not keep
// Node's event loop alive, so a timer that never fires does while any process is pending.
import { constants } from 'node:os';
import { koffi } from './koffi-addon.ts';
import { close, dupCloexecAbove, facts, strerror } from './libc.ts';
import { SyscallError } from './errors.ts';

const lib = koffi.load(facts.libc);

/** Bindings; posix_spawn_file_actions_addchdir_np is glibc >= 2.29 and FreeBSD >= 13.1 only. */
function bind() {
  return {
    spawn: lib.func('int posix_spawn(_Out_ int *pid, const char *path, void *actions, void *attr, const char **argv, const char **envp)'),
    actionsInit: lib.func('int posix_spawn_file_actions_init(void *actions)'),
    actionsDestroy: lib.func('int posix_spawn_file_actions_destroy(void *actions)'),
    addDup2: lib.func('int posix_spawn_file_actions_adddup2(void *actions, int fd, int newfd)'),
    addOpen: lib.func('int posix_spawn_file_actions_addopen(void *actions, int fd, const char *path, int oflag, int mode)'),
    addChdir: lib.func('int posix_spawn_file_actions_addchdir_np(void *actions, const char *path)'),
    attrInit: lib.func('int posix_spawnattr_init(void *attr)'),
    attrDestroy: lib.func('int posix_spawnattr_destroy(void *attr)'),
    setFlags: lib.func('int posix_spawnattr_setflags(void *attr, short flags)'),
    setPgroup: lib.func('int posix_spawnattr_setpgroup(void *attr, int pgroup)'),
    setSigmask: lib.func('int posix_spawnattr_setsigmask(void *attr, const void *set)'),
    setSigdefault: lib.func('int posix_spawnattr_setsigdefault(void *attr, const void *set)'),
    sigemptyset: lib.func('int sigemptyset(_Out_ void *set)'),
    sigfillset: lib.func('int sigfillset(_Out_ void *set)'),
    sigdelset: lib.func('int sigdelset(_Inout_ void *set, int signo)'),
    waitpid: lib.func('int waitpid(int pid, _Out_ int *status, int options)'),
  };
}

let bound: ReturnType<typeof bind> | undefined;
let unavailable: string | undefined;

/**
 * Why posix_spawn cannot be used here (an old C library without addchdir_np), or undefined when
 * it can. Callers fall back on node:child_process then.
 */
export function posixSpawnProblem(): string | undefined {
  if (bound === undefined && unavailable === undefined) {
    try {
      bound = bind();
    } catch (err) {
      unavailable = `posix_spawn is not usable with ${facts.libc}: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  return unavailable;
}

function c(): ReturnType<typeof bind> {
  const problem = posixSpawnProblem();
  if (problem !== undefined) throw new Error(problem);
  return bound!;
}

/** Opaque spawn.h objects: glibc's are 80 and 336 bytes, FreeBSD's a pointer; room for either. */
const OPAQUE_BYTES = 512;
/** sigset_t: 128 bytes on glibc, 16 on FreeBSD. */
const SIGSET_BYTES = 128;
const WNOHANG = 1;
const O_RDONLY = 0;

/** Where a child's descriptor comes from. */
export type ChildFd = { readonly from: number } | 'null';

export interface SpawnRequest {
  /** Absolute path of the program (no PATH search). */
  readonly path: string;
  /** argv[1..]; argv[0] is `path`. */
  readonly args: readonly string[];
  /** The whole environment. */
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  /** The child's descriptors 0, 1, 2, ...: a descriptor of ours to give it, or /dev/null. */
  readonly fds: readonly ChildFd[];
}

export interface ProcessEnd {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SpawnedProcess {
  readonly pid: number;
  /** Settles when the process has ended (it is reaped then). */
  readonly ended: Promise<ProcessEnd>;
}

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, number]) => [number, name as NodeJS.Signals]),
);

/** A wait(2) status: exit code or signal (the same encoding on FreeBSD and Linux). */
export function decodeWaitStatus(status: number): ProcessEnd {
  const low = status & 0x7f;
  if (low === 0) return { exitCode: (status >> 8) & 0xff, signal: null };
  return { exitCode: null, signal: SIGNAL_NAMES.get(low) ?? null };
}

const pending = new Map<number, (end: ProcessEnd) => void>();
let listening = false;
let keepAlive: NodeJS.Timeout | undefined;

function reap(): void {
  const status = [0];
  for (const [pid, settle] of pending) {
    // 0: still running; -1 (ECHILD): reaped elsewhere, which nothing here does; either way keep
    // only what can still end.
    const result = c().waitpid(pid, status, WNOHANG) as number;
    if (result === 0) continue;
    pending.delete(pid);
    settle(result === pid ? decodeWaitStatus(status[0]!) : { exitCode: null, signal: null });
  }
  if (pending.size === 0 && keepAlive) {
    clearInterval(keepAlive);
    keepAlive = undefined;
  }
}

function watch(pid: number): Promise<ProcessEnd> {
  if (!listening) {
    process.on('SIGCHLD', reap);
    listening = true;
  }
  keepAlive ??= setInterval(() => {}, 2 ** 30);
  return new Promise((resolve) => {
    pending.set(pid, resolve);
    // It may have ended before the listener existed: a SIGCHLD delivered to no one.
    reap();
  });
}

/**
 * `fd`, or a close-on-exec copy of it above the child's descriptors 0..count-1: the dup2s run in
 * order, and one must not overwrite a source that another has still to copy.
 */
function aboveChildRange(fd: number, count: number): number {
  return fd >= count ? fd : dupCloexecAbove(fd, count);
}

/**
 * Starts `request.path` in a process group of its own (a session on Linux), with an empty signal
 * mask and default signal dispositions (Node ignores SIGPIPE, and exec keeps what is ignored).
 * Throws a SyscallError('posix_spawn', path) when it cannot start: ENOENT, EACCES, ENOEXEC...
 */
export function spawnProcess(request: SpawnRequest): SpawnedProcess {
  const f = c();
  const actions = Buffer.alloc(OPAQUE_BYTES);
  const attr = Buffer.alloc(OPAQUE_BYTES);
  const mask = Buffer.alloc(SIGSET_BYTES);
  const defaults = Buffer.alloc(SIGSET_BYTES);
  const copies: number[] = [];
  const must = (what: string, result: number) => {
    if (result !== 0) throw new SyscallError(what, result, request.path, strerror(result));
  };
  must('posix_spawn_file_actions_init', f.actionsInit(actions) as number);
  try {
    must('posix_spawnattr_init', f.attrInit(attr) as number);
    try {
      request.fds.forEach((source, target) => {
        if (source === 'null') {
          const mode = target === 0 ? O_RDONLY : facts.O_RDWR;
          must('posix_spawn_file_actions_addopen', f.addOpen(actions, target, '/dev/null', mode, 0) as number);
        }
        else {
          const fd = aboveChildRange(source.from, request.fds.length);
          if (fd !== source.from) copies.push(fd);
          must('posix_spawn_file_actions_adddup2', f.addDup2(actions, fd, target) as number);
        }
      });
      must('posix_spawn_file_actions_addchdir_np', f.addChdir(actions, request.cwd) as number);
      f.sigemptyset(mask);
      f.sigfillset(defaults);
      if (facts.os === 'linux') {
        // glibc's sigfillset leaves out the two signals it keeps for its threads (32 and 33), and
        // its posix_spawn leaves those ignored in the child unless they are in this set: set
        // every signal's bit (bit n-1 of the mask) for all of them to be SIG_DFL, as fork+exec has.
        for (let signal = 1; signal <= 64; signal++) defaults[(signal - 1) >> 3]! |= 1 << ((signal - 1) & 7);
      }
      // FreeBSD's posix_spawn fails on a signal whose disposition cannot change.
      f.sigdelset(defaults, constants.signals.SIGKILL);
      f.sigdelset(defaults, constants.signals.SIGSTOP);
      const { ownGroup, SETSIGDEF, SETSIGMASK } = facts.spawn;
      must('posix_spawnattr_setflags', f.setFlags(attr, ownGroup | SETSIGDEF | SETSIGMASK) as number);
      must('posix_spawnattr_setpgroup', f.setPgroup(attr, 0) as number);
      must('posix_spawnattr_setsigmask', f.setSigmask(attr, mask) as number);
      must('posix_spawnattr_setsigdefault', f.setSigdefault(attr, defaults) as number);
      const env = Object.entries(request.env).map(([k, v]) => `${k}=${v}`);
      const pid = [0];
      const error = f.spawn(pid, request.path, actions, attr, [request.path, ...request.args, null], [...env, null]) as number;
      if (error !== 0) throw new SyscallError('posix_spawn', error, request.path, strerror(error));
      return { pid: pid[0]!, ended: watch(pid[0]!) };
    } finally {
      f.attrDestroy(attr);
    }
  } finally {
    f.actionsDestroy(actions);
    for (const fd of copies) close(fd);
  }
}
