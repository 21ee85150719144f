// Imported first by the emulator's entry point: on a Node too old for it, one line and exit 2,
// before any other module runs. (ES modules are evaluated in import order.)
import { nodeVersionProblem } from './node-version.ts';

const problem = nodeVersionProblem();
if (problem) {
  process.stderr.write(`emulator: ${problem}\n`);
  process.exit(2);
}
