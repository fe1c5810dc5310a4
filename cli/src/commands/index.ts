/** The umbrella `godwit` command. */
import { Command } from '@commander-js/extra-typings';
import { buildAttachCommand } from './attach.js';
import { buildClusterCommand } from './cluster.js';
import { buildCtlCommand } from './ctl.js';
import { buildSetpeCommand } from './setpe.js';
import { buildKillCommand } from './kill.js';
import { buildMigrateCommand } from './migrate.js';
import { buildMonCommand } from './mon.js';
import { buildKillallCommand } from './killall.js';
import { buildNativeCommand } from './native.js';
import { buildNodesCommand } from './nodes.js';
import { buildPsCommand } from './ps.js';
import { buildRunCommand } from './run.js';
import { buildWhyCommand } from './why.js';
import { exitStatusHelp } from '../output.js';

export const VERSION = '0.1.0';

export function buildGodwitProgram() {
  return new Command('godwit')
    .description('MOSIX-style live process migration on Linux, with CRIU')
    .version(VERSION, '-V, --version')
    .enablePositionalOptions()
    .addCommand(buildRunCommand('run'))
    .addCommand(buildMigrateCommand('migrate'))
    .addCommand(buildPsCommand('ps'))
    .addCommand(buildNodesCommand('nodes'))
    .addCommand(buildWhyCommand('why'))
    .addCommand(buildAttachCommand('attach'))
    .addCommand(buildKillCommand('kill'))
    .addCommand(buildCtlCommand('ctl'))
    .addCommand(buildSetpeCommand('setpe'))
    .addCommand(buildMonCommand('mon'))
    .addCommand(buildKillallCommand('killall'))
    .addCommand(buildNativeCommand('native'))
    .addCommand(buildClusterCommand())
    .addHelpText('after', '\nAliases: mosrun = godwit run, mosmigrate = godwit migrate, mosps = godwit ps, mosctl = godwit ctl, mosmon = godwit mon, mossetpe = godwit setpe, moskillall = godwit killall, mosnative = godwit native.')
    .addHelpText('after', `\n${exitStatusHelp()}`);
}
