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

/** the subcommands, under the names `godwit` gives them (the mos* commands are the same builders) */
const subcommands = () => [
  buildRunCommand('run'),
  buildMigrateCommand('migrate'),
  buildPsCommand('ps'),
  buildNodesCommand('nodes'),
  buildWhyCommand('why'),
  buildAttachCommand('attach'),
  buildKillCommand('kill'),
  buildCtlCommand('ctl'),
  buildSetpeCommand('setpe'),
  buildMonCommand('mon'),
  buildKillallCommand('killall'),
  buildNativeCommand('native'),
  buildClusterCommand(),
];

export function buildGodwitProgram() {
  const program = new Command('godwit')
    .description('MOSIX-style live process migration on Linux, with CRIU')
    .version(VERSION, '-V, --version')
    .enablePositionalOptions();
  for (const sub of subcommands()) program.addCommand(sub);
  return program
    .addHelpText('after', '\nAliases: mosrun = godwit run, mosmigrate = godwit migrate, mosps = godwit ps, mosctl = godwit ctl, mosmon = godwit mon, mossetpe = godwit setpe, moskillall = godwit killall, mosnative = godwit native.')
    .addHelpText('after', `\n${exitStatusHelp()}`);
}
