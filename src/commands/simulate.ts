import { Command, Flags } from '@oclif/core';
import { printStartupError, runAgentProcess, StartupError } from '../cli/agent-process.ts';
import { deviceFlag, kernelTimeoutFlag, positiveSeconds } from '../cli/flags.ts';
import { VssDevice, type RequestChannel } from '../native/vss-device.ts';
import { LinuxVssDevice } from '../native/linux-vss-device.ts';
import { PROTOCOLS, resolveProtocol } from '../daemon/linux-channel.ts';
import { LINUX_KERNEL_LIMITS } from '../protocol/linux-vss.ts';
import { parseOutcome, runSimulator, OUTCOME_NAMES, type Outcome } from '../simulate/simulator.ts';
import { systemClock } from '../util/clock.ts';

const outcomeFlag = (char: 'c' | 'f' | 't', op: string) =>
  Flags.custom<Outcome>({
    char,
    summary: `Outcome of ${op}: 0 success, 1 timeout (answer after the kernel's limit), 2 failure.`,
    default: 0,
    helpValue: '0|1|2',
    parse: async (input) => parseOutcome(char, input),
  })();

export default class Simulate extends Command {
  static override summary = "Answer the host's VSS requests like the hv_vss(4) manual page's example agent.";

  static override description = `Registers on the application VSS device and answers every CHECK, FREEZE and THAW with a chosen outcome after --wait seconds, without running any hooks. Use it to test the host side of a backup: "-f 1" provokes a freeze timeout, "-c 2" a failed check. Each request and answer is logged; an answer that went out after the kernel's limit (counted from the read, so certainly ignored) is flagged LATE.

Without -n it detaches and logs to syslog (ident hvvss); with -n it stays in the foreground and prints to standard output.`;

  static override examples = [
    { description: 'Answer everything with success, in the foreground, with debug lines:', command: '<%= config.bin %> <%= command.id %> -n -d' },
    { description: 'Let every FREEZE time out (the host reports a failed backup):', command: '<%= config.bin %> <%= command.id %> -f 1' },
    { description: 'Fail the capability check at once:', command: '<%= config.bin %> <%= command.id %> -n -c 2 --wait 0' },
  ];

  static override flags = {
    check: outcomeFlag('c', 'CHECK'),
    freeze: outcomeFlag('f', 'FREEZE'),
    thaw: outcomeFlag('t', 'THAW'),
    wait: Flags.custom<number>({
      summary: 'Seconds to wait before each answer.',
      default: 2,
      helpValue: 'SECONDS',
      parse: async (input) => positiveSeconds('--wait', input),
    })(),
    debug: Flags.boolean({ char: 'd', summary: 'Log debug lines too.' }),
    foreground: Flags.boolean({ char: 'n', summary: 'Stay in the foreground and print to standard output.' }),
    device: deviceFlag,
    'kernel-timeout': kernelTimeoutFlag,
    protocol: Flags.string({
      summary: 'The kernel interface: freebsd (hv_vss(4)) or linux (/dev/vmbus/hv_vss: -c, -f and -t answer HOT_BACKUP, FREEZE and THAW). Default: from the device name, else from the OS.',
      env: 'HVVSS_PROTOCOL',
      options: [...PROTOCOLS],
    }),
    help: Flags.help({ char: 'h' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Simulate);
    const outcomes = { check: flags.check, freeze: flags.freeze, thaw: flags.thaw };
    const protocol = resolveProtocol(flags.protocol, flags.device);
    // Linux's limits are 30 s (HOT_BACKUP, THAW) and 900 s (FREEZE); --kernel-timeout, when
    // given, replaces both (only against an emulator with shortened limits).
    const explicitLimit = this.argv.some((a) => a === '--kernel-timeout' || a.startsWith('--kernel-timeout=')) || process.env.HVVSS_KERNEL_TIMEOUT !== undefined;
    const linuxLimits = explicitLimit ? { freezeMs: flags['kernel-timeout'] * 1000, otherMs: flags['kernel-timeout'] * 1000 } : LINUX_KERNEL_LIMITS;
    try {
      await runAgentProcess({
        name: 'hvvss simulate',
        foreground: flags.foreground,
        debug: flags.debug,
        facility: 'user',
        stream: process.stdout,
        start: async (log) => {
          log.info(`hvvss simulate starting; pid ${process.pid}`);
          const device: RequestChannel & { close(): Promise<void> } =
            protocol === 'linux'
              ? await LinuxVssDevice.open(flags.device, {
                  limits: linuxLimits,
                  onEvent: (event) => {
                    if (event.kind === 'reregistered') log.info(`${event.why}: registering again`);
                    else if (event.kind === 'poll-retry') log.debug(`poll interrupted (${event.code}): polling again`);
                  },
                })
              : VssDevice.open(flags.device, {
                  kernelTimeoutMs: flags['kernel-timeout'] * 1000,
                  onEvent: (event) => {
                    if (event.kind === 'expired-read') log.debug(`request ${event.msgidText} had already timed out in the kernel: skipped`);
                    else log.debug(`poll interrupted (${event.code}): polling again`);
                  },
                });
          log.info(
            `registered on ${flags.device}; check: ${OUTCOME_NAMES[flags.check]}, freeze: ${OUTCOME_NAMES[flags.freeze]}, ` +
              `thaw: ${OUTCOME_NAMES[flags.thaw]}, answering after ${flags.wait} s`,
          );
          return device;
        },
        run: async (device, log, signal) => {
          const closeOnAbort = () => void device.close();
          signal.addEventListener('abort', closeOnAbort, { once: true });
          try {
            await runSimulator(device, { outcomes, waitMs: flags.wait * 1000, clock: systemClock, log, signal });
          } finally {
            await device.close();
            log.info('unregistered; exiting');
          }
        },
      });
    } catch (err) {
      if (err instanceof StartupError) {
        printStartupError('hvvss simulate', err);
        this.exit(1);
      }
      throw err;
    }
  }
}
