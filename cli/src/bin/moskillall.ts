#!/usr/bin/env node
import { buildKillallCommand } from '../commands/killall.js';
import { runMain } from '../program.js';

await runMain(buildKillallCommand('moskillall'));
