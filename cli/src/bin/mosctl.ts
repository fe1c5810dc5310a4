#!/usr/bin/env node
import { buildCtlCommand } from '../commands/ctl.js';
import { runMain } from '../program.js';

await runMain(buildCtlCommand('mosctl'));
