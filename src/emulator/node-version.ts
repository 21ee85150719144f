// The oldest Node the emulator runs on. Its entry points tell "run as a program" from "imported"
// with import.meta.main (Node 24.2): on an older Node that is undefined, and the emulator would
// exit 0 having done nothing at all. Refusing in one line is the only useful thing left to do.
export const MINIMUM_NODE = '24.2';

/** Why this Node cannot run the emulator, or undefined when it can. */
export function nodeVersionProblem(version: string = process.versions.node): string | undefined {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const [needMajor = 0, needMinor = 0] = MINIMUM_NODE.split('.').map(Number);
  if (major > needMajor || (major === needMajor && minor >= needMinor)) return undefined;
  return `Node.js ${MINIMUM_NODE} or later is needed, this is ${version}: run it with the project's Node ("npx node dist/emulator/main.js ..." in the project directory, after "npm ci")`;
}
