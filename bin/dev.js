#!/usr/bin/env node
// Development entry point: runs the TypeScript sources in src/ directly under Node 24's type
// stripping (no build), by pointing oclif's command discovery at src/commands.
import { readFileSync } from 'node:fs';
import { runCli } from '../src/cli/run-cli.ts';

const root = new URL('..', import.meta.url);
const pjson = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
pjson.oclif.commands = { strategy: 'pattern', target: './src/commands' };
await runCli({ root: root.pathname, pjson, ignoreManifest: true });
