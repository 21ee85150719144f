// One emulated kernel for all the tests of a file: started before the first, stopped after the
// last. What it returns stands for the running emulator once started.
import { after, before } from 'node:test';
import { startEmulator, type RunningEmulator, type StartEmulatorOptions } from '../../src/emulator/host-client.ts';

export function emulatorPerFile(options: StartEmulatorOptions = {}): RunningEmulator {
  let running: RunningEmulator | undefined;
  before(async () => {
    running = await startEmulator(options);
  });
  after(async () => {
    await running?.stop();
  });
  return new Proxy({} as RunningEmulator, {
    get(_target, key) {
      if (!running) throw new Error(`the emulator is not started yet (reading ${String(key)} outside a test)`);
      const value = Reflect.get(running, key);
      return typeof value === 'function' ? value.bind(running) : value;
    },
  });
}
