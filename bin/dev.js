#!/usr/bin/env node
// Development entry point: runs the TypeScript sources in src/ directly (Node 24 type stripping).
import { execute } from '@oclif/core';
await execute({ development: true, dir: import.meta.url });
