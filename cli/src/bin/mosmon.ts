#!/usr/bin/env node
import { buildMonCommand } from '../commands/mon.js';
import { runMain } from '../program.js';

await runMain(buildMonCommand('mosmon'));
