// Entry point of the freeze keeper (see keeper.ts), started by "hvvss freeze" as a detached
// process with an IPC channel; its settings arrive as the first message. It logs to syslog
// (ident hvvss): once the command line has gone, nobody else would see an automatic thaw.
import { AgentLogger, syslogSink } from '../log/logger.ts';
import { runKeeper, type FromKeeper, type KeeperChannel, type ToKeeper } from './keeper.ts';

const log = new AgentLogger(syslogSink('daemon'));

if (!process.send) {
  process.stderr.write('hvvss keeper: this is started by "hvvss freeze", not by hand\n');
  process.exit(2);
}

const channel: KeeperChannel = {
  send: (message: FromKeeper) =>
    new Promise<void>((resolve, reject) => {
      if (!process.connected || !process.send) return reject(new Error('the hvvss freeze command is gone'));
      process.send(message, undefined, {}, (err) => (err ? reject(err) : resolve()));
    }),
  onMessage: (listener) => void process.on('message', (message) => listener(message as ToKeeper)),
  onDisconnect: (listener) => void process.once('disconnect', listener),
  disconnect: () => {
    if (process.connected) process.disconnect?.();
  },
};

// Before runKeeper takes over (it installs its own handler, which thaws first).
const crashBeforeStart = (err: Error): void => {
  log.error(`hvvss freeze keeper (pid ${process.pid}) crashed: ${err.stack ?? err.message}`);
  const exit = () => process.exit(70);
  channel.send({ type: 'done', ok: false, steps: [], problem: `the freeze keeper crashed: ${err.message}; run "hvvss thaw" to thaw whatever it had frozen` }).then(exit, exit);
};
process.once('uncaughtException', crashBeforeStart);

process.once('message', (message: ToKeeper) => {
  if (message.type !== 'start') return;
  process.off('uncaughtException', crashBeforeStart);
  runKeeper(message.settings, channel, log).then(
    () => process.exit(0),
    (err: unknown) => {
      throw err;
    },
  );
});
