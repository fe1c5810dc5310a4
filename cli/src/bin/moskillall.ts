#!/usr/bin/env node
// Alone in the static graph, so that SIGUSR1 is taken from Node's inspector before the rest loads.
import '../inspector-guard.js';

const { buildKillallCommand } = await import('../commands/killall.js');
const { runMain } = await import('../program.js');
await runMain(buildKillallCommand('moskillall'));
