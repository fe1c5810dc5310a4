#!/usr/bin/env node
// Alone in the static graph, so that SIGUSR1 is taken from Node's inspector before the rest loads.
import '../inspector-guard.js';

const { buildNativeCommand } = await import('../commands/native.js');
const { runMain } = await import('../program.js');
await runMain(buildNativeCommand('mosnative'));
