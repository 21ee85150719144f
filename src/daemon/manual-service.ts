// hvvss check, freeze and thaw run by the daemon, for an operator command that found it on its
// socket: the same ManualSession as a device-less run, but on the daemon's own freeze engine, so
// there is one owner of every freeze on the machine (one journal record, one watchdog, one
// shutdown path). A manual freeze held here keeps the host's CHECK and FREEZE out until thawed.
import { resolve } from 'node:path';
import type { FreezeEngine } from '../engine/freeze-engine.ts';
import type { HoldingLogger } from '../log/logger.ts';
import type { DaemonOutcome, ManualRequest } from '../manual/daemon-protocol.ts';
import { plural, type StepReport } from '../manual/report.ts';
import { ManualSession } from '../manual/session.ts';
import type { ManualConnection } from './control-server.ts';
import type { VssAgent } from './vss-agent.ts';

export interface ManualServiceDeps {
  readonly agent: VssAgent;
  readonly engine: FreezeEngine;
  readonly log: HoldingLogger;
  readonly stateDir: string;
  readonly hookTimeoutMs: number;
  readonly killGraceMs: number;
}

const refused = (message: string, busy: boolean): DaemonOutcome => ({ ok: false, steps: [], refused: { message, busy } });

export class ManualService {
  readonly #deps: ManualServiceDeps;

  constructor(deps: ManualServiceDeps) {
    this.#deps = deps;
  }

  async handle(request: ManualRequest, connection: ManualConnection): Promise<DaemonOutcome> {
    const { agent, engine, log } = this.#deps;
    const dir = engine.hooks.dir;
    if (resolve(request.hooksDir) !== dir) {
      return refused(`the daemon runs the hooks in ${dir}, not ${resolve(request.hooksDir)}: run with --hooks-dir ${dir}, or stop the daemon first`, false);
    }
    const session = new ManualSession(
      {
        hooksDir: dir,
        stateDir: this.#deps.stateDir,
        socket: '',
        timeoutMs: request.timeoutMs,
        hookTimeoutMs: this.#deps.hookTimeoutMs,
        killGraceMs: this.#deps.killGraceMs,
        maxFrozenMs: request.cmd === 'freeze' ? request.maxFrozenMs : 0,
      },
      { emit: (event) => connection.send(event), log, engine },
    );
    const busy = (why: string): DaemonOutcome => refused(why, true);
    switch (request.cmd) {
      case 'check':
        return agent.manual('check', async () => this.#result([await session.check(connection.closed)]), busy);
      case 'thaw':
        return agent.manual(
          'thaw',
          async () => {
            const frozen = engine.frozen;
            if (!frozen || frozen.reason !== 'manual') return { ok: true, steps: [], nothingHeld: true };
            log.info(`manual thaw of the freeze held since ${frozen.since.toISOString()} (hvvss thaw)`);
            return this.#result([await session.thaw('manual', request.timeoutMs)]);
          },
          busy,
        );
      case 'freeze':
        return agent.manual(
          'freeze',
          async () => {
            const holder = request.command === undefined ? {} : { command: request.command };
            // The freeze stops if the client goes away before it is reported (Ctrl-C on hvvss freeze).
            const outcome = await session.freeze(connection.closed, holder, {
              ms: request.maxFrozenMs,
              onWatchdog: () => {
                const frozen = engine.frozen;
                if (frozen?.reason === 'manual') agent.thawLater(frozen.since, 'watchdog', `--max-frozen ${request.maxFrozenMs / 1000} s elapsed`);
              },
            });
            const held = engine.frozen;
            if (!outcome.frozen || !held) return { ...this.#result(outcome.steps), ...(outcome.problem === undefined ? {} : { problem: outcome.problem }) };
            const autoThawAt = held.watchdogAt ?? new Date(held.since.getTime() + request.maxFrozenMs);
            log.info(`manual freeze of ${plural(held.hooks.length, 'hook')} held by the daemon; automatic thaw at ${autoThawAt.toISOString()}`);
            if (request.holdWhileConnected) this.#thawWhenDone(session, connection, held.since);
            return {
              ...this.#result(outcome.steps),
              frozen: { pid: process.pid, since: held.since.toISOString(), autoThawAt: autoThawAt.toISOString(), hooks: held.hooks.map((f) => f.hook.name) },
            };
          },
          busy,
        );
    }
  }

  /** hvvss freeze -- COMMAND: thawed when the client asks on its connection, or when it goes away. */
  #thawWhenDone(session: ManualSession, connection: ManualConnection, since: Date): void {
    const { agent, engine } = this.#deps;
    const gone = new Promise<'gone'>((resolve) => connection.closed.addEventListener('abort', () => resolve('gone'), { once: true }));
    void Promise.race([connection.thawAsked.then(() => 'asked' as const), gone]).then(async (why) => {
      if (why === 'gone') return agent.thawLater(since, 'manual', 'the hvvss freeze -- COMMAND that asked for it went away');
      const outcome = await agent.manual(
        'thaw',
        async () => {
          const frozen = engine.frozen;
          if (!frozen || frozen.since.getTime() !== since.getTime()) return { ok: true, steps: [], nothingHeld: true as const };
          return this.#result([await session.thaw('manual', session.settings.timeoutMs)]);
        },
        (message) => refused(message, true),
      );
      connection.end(outcome);
    });
  }

  #result(steps: readonly StepReport[]): DaemonOutcome {
    return { ok: steps.every((s) => s.ok), steps };
  }
}
