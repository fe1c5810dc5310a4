#!/usr/bin/env node
import { buildGodwitProgram } from '../commands/index.js';
import { runMain } from '../program.js';

await runMain(buildGodwitProgram());
