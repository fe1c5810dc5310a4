#!/usr/bin/env node
import { buildNativeCommand } from '../commands/native.js';
import { runMain } from '../program.js';

await runMain(buildNativeCommand('mosnative'));
