// What `simulate` and `daemon` share as processes: foreground or detached, where logs go,
// opening the device with an error that says what to do, and a clean stop on SIGTERM/SIGINT.
import { AgentLogger, foregroundSink, syslogSink } from '../log/logger.ts';
import { detach, isDetachedChild, reportReadiness } from './detach.ts';

export interface AgentProcessOptions<Resource> {
  readonly name: string;
  readonly foreground: boolean;
  readonly debug: boolean;
  readonly facility: 'daemon' | 'user';
  /** Where foreground logs go: simulate prints to stdout, the daemon to stderr. */
  readonly stream: NodeJS.WritableStream;
  /**
   * Log through syslog(3) even in the foreground (for daemon(8) in rc.d): every line keeps its own
   * priority, where daemon(8) -S would log all of them at one.
   */
  readonly syslog?: boolean;
  /** Node/V8 options for the detached process. */
  readonly nodeFlags?: readonly string[];
  /** Acquires what the agent needs (opens the device). Throwing here fails start-up. */
  readonly start: (log: AgentLogger) => Resource | Promise<Resource>;
  /** Runs until done or until `signal` aborts (SIGTERM/SIGINT). */
  readonly run: (resource: Resource, log: AgentLogger, signal: AbortSignal) => Promise<void>;
}

/**
 * Prints a start-up refusal on one unwrapped line (its fix command must stay copyable), unless
 * it went to syslog already; the caller then exits 1.
 */
export function printStartupError(name: string, err: StartupError): void {
  if (err.shouldPrint) process.stderr.write(`${name}: ${err.message}\n`);
}

export class StartupError extends Error {
  /** Already logged to syslog (--syslog, or the detached copy): print it again only to a person. */
  readonly logged: boolean;
  constructor(message: string, logged = false) {
    super(message);
    this.logged = logged;
  }

  /** Whether the command should still print it: not when syslog has it and no terminal is watching. */
  get shouldPrint(): boolean {
    return !this.logged || process.stderr.isTTY === true;
  }
}

/**
 * Runs an agent. Without `foreground`, starts a detached copy and returns once that copy is
 * registered (or throws StartupError with its reason). Resolves when the agent has stopped.
 */
export async function runAgentProcess<Resource>(options: AgentProcessOptions<Resource>): Promise<void> {
  if (!options.foreground && !isDetachedChild()) {
    const { pid, error } = await detach(options.nodeFlags);
    if (error !== undefined) throw new StartupError(error);
    process.stderr.write(`${options.name}: running in the background as pid ${pid}, logging to syslog\n`);
    return;
  }
  const toSyslog = isDetachedChild() || options.syslog === true;
  const logger = new AgentLogger(toSyslog ? syslogSink(options.facility) : foregroundSink(options.stream), { debug: options.debug });
  let resource: Resource;
  try {
    resource = await options.start(logger);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // Said once where whoever started it looks: logging to stderr, the command prints it (not the
    // logger too); logging to syslog, it goes there at err, and to the waiting parent of a detached
    // copy, which prints it.
    if (toSyslog) logger.error(message);
    reportReadiness(message);
    throw new StartupError(message, toSyslog);
  }
  reportReadiness();
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info(`${signal} received: stopping`);
    stop.abort(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', onSignal);
  try {
    await options.run(resource, logger, stop.signal);
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('SIGHUP', onSignal);
  }
}
