// What the state helpers throw: what is wrong with which path, and the command that fixes it,
// so a daemon refusing to start (or a command refusing to run) says exactly what to do.

export type StatePathProblem =
  /** Wrong owner or mode, on the path itself or a directory on the way to it. */
  | 'insecure'
  /** A symbolic link where a file of ours must be: never followed. */
  | 'symlink'
  /** A regular file with more than one name: writing it would change the other one too. */
  | 'hard-linked'
  /** Not a regular file (a directory, FIFO, device...) or, for a directory, not a directory. */
  | 'wrong-type'
  /** Larger than anything we write there. */
  | 'too-big'
  /** Cannot be created, resolved or written (EROFS, ENOTDIR, EACCES...). */
  | 'unusable';

export class StatePathError extends Error {
  readonly path: string;
  readonly problem: StatePathProblem;
  /** The shell command (or action) that fixes it; the message ends with it. */
  readonly fix: string;

  constructor(path: string, problem: StatePathProblem, what: string, fix: string) {
    super(`${what}; fix: ${fix}`);
    this.name = 'StatePathError';
    this.path = path;
    this.problem = problem;
    this.fix = fix;
  }
}
