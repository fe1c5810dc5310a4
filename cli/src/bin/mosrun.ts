#!/usr/bin/env node
import { buildRunCommand } from '../commands/run.js';
import { runMain } from '../program.js';

await runMain(buildRunCommand('mosrun'));
