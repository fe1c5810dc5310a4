/** `godwit kill ID [SIG]`: sends a signal to a program wherever it runs, as kill(1) does to a local one. */
import { Command } from '@commander-js/extra-typings';
import { SIGNAL_NAMES, type SignalName } from '@godwit/schemas';
import { connect } from '../client.js';
import { UsageError } from '../errors.js';
import { processIdArg } from '../process-id.js';
import { parseSignal } from '../signals.js';
import { renderJson, show } from '../output.js';

export type KillArgs = { list: true; json: boolean } | { list: false; json: boolean; id: string; signal: SignalName };

/**
 * kill(1)'s forms: `ID [SIG]`, `-SIG ID`, `-s SIG ID`, `--signal SIG ID`, `-l`; SIG by name
 * (with or without SIG, any case) or number; SIGTERM when none is given. And godwit's --json.
 */
export function parseKillArgs(args: readonly string[]): KillArgs {
  const positional: string[] = [];
  const signals: SignalName[] = [];
  let list = false;
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-l' || a === '--list') list = true;
    else if (a === '--json') json = true;
    else if (a === '-s' || a === '--signal') {
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${a} needs a signal (TERM, USR1, 9, ...)`);
      signals.push(parseSignal(v));
    } else if (a.startsWith('--signal=')) signals.push(parseSignal(a.slice('--signal='.length)));
    else if (a === '--') positional.push(...args.slice(i + 1)), (i = args.length);
    else if (a.startsWith('-') && a.length > 1) signals.push(parseSignal(a.slice(1)));
    else positional.push(a);
  }
  if (list) {
    if (positional.length || signals.length) throw new UsageError('-l lists the signals and takes nothing else');
    return { list: true, json };
  }
  const [id, sig, ...extra] = positional;
  if (id === undefined) throw new UsageError('missing the process: godwit kill ID [SIG] (ID: godwit\'s id or the home PID, see mosps)');
  processIdArg(id);
  if (sig !== undefined) signals.push(parseSignal(sig));
  if (extra.length) throw new UsageError(`one process at a time: '${extra.join(' ')}' is too much`);
  if (signals.length > 1) throw new UsageError(`one signal at a time: ${signals.join(' and ')} were given`);
  return { list: false, json, id, signal: signals[0] ?? 'SIGTERM' };
}

async function sendKill(args: KillArgs): Promise<void> {
  if (args.list) {
    await show(SIGNAL_NAMES.map((name, i) => ({ number: i + 1, name })), args.json, (list) => list.map((s) => `${s.number}) ${s.name}\n`).join(''));
    return;
  }
  await (await connect()).signal(args.id, args.signal);
  if (args.json) await show({ processId: args.id, signal: args.signal }, true, renderJson);
}

export function buildKillCommand(name: string, action: (args: KillArgs) => Promise<void> = sendKill) {
  return new Command(name)
    .description('send a signal to a program wherever it runs (SIGTERM unless another is named)')
    .usage('[-SIG | -s SIG] [--json] ID [SIG]  |  -l')
    .helpOption('--help', 'show this help')
    .argument('[args...]')
    .allowUnknownOption()
    .addHelpText(
      'after',
      `
ID is godwit's id or the program's home PID (see mosps). SIG is a name, with or without SIG and
in any case (TERM, SIGUSR1, usr2), or a number (9); -l lists them. --json: say what was sent
as JSON.

Examples:
  godwit ${name} 12            (SIGTERM)
  godwit ${name} 12 USR2
  godwit ${name} -9 12
  godwit ${name} -s SIGHUP 12`,
    )
    .action((args) => action(parseKillArgs(args)));
}
