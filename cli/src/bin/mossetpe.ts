#!/usr/bin/env node
import { buildSetpeCommand } from '../commands/setpe.js';
import { runMain } from '../program.js';

await runMain(buildSetpeCommand('mossetpe'));
