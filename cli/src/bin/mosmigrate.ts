#!/usr/bin/env node
import { buildMigrateCommand } from '../commands/migrate.js';
import { runMain } from '../program.js';

await runMain(buildMigrateCommand('mosmigrate'));
