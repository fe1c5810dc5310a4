#!/usr/bin/env node
import { buildPsCommand } from '../commands/ps.js';
import { runMain } from '../program.js';

await runMain(buildPsCommand('mosps'));
