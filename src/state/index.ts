// Root's state directory and the files in it, safe against anything another user could plant.
export { prepareStateDir, type StateDirOptions } from './state-dir.ts';
export { readPrivateFile, openPrivateFile, type ReadPrivateOptions, type OpenPrivateOptions } from './private-file.ts';
export { writePrivateFileAtomic, writePrivateFileAtomicSync } from './atomic-write.ts';
export { StatePathError, type StatePathProblem } from './state-path-error.ts';
