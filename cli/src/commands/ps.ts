/** `mosps` / `godwit ps`: the caller's godwit processes, where they run and where they came from. */
import { Command, Option } from '@commander-js/extra-typings';
import { connect } from '../client.js';
import { UsageError } from '../errors.js';
import { print, renderJson, show } from '../output.js';
import { ACTIVE_STATES, type NodeLabel, type ProcessSelection, nodeLabeller, renderPsTable, selectProcesses } from '../views/processes.js';

/** What ps's BSD letters (`mosps aux`) ask for. */
export interface BsdLetters {
  /** a: other users' processes too */
  others: boolean;
  /** u, w: the user and the whole command */
  verbose: boolean;
}

/** ps's BSD-style letters without a dash: a (all users), u (user-oriented), x (without a terminal: godwit's all are), w (wide). */
export function parseBsdLetters(word: string): BsdLetters {
  const bad = [...word].filter((c) => !'auxw'.includes(c));
  if (bad.length || !word) {
    throw new UsageError(`'${word}' is not a ps letter group mosps takes: a (every user's), u (with the user), x (without a terminal: all godwit's are), w (the whole command), as in \`mosps aux\``);
  }
  return { others: word.includes('a'), verbose: word.includes('u') || word.includes('w') };
}

export function buildPsCommand(name: string) {
  return new Command(name)
    .description("list godwit processes: ID, home PID, where each runs (WHERE), its home (FROM), migrations (MOSIX mosps; takes ps's -A, -e, -u USER, aux)")
    // -h means host names, as in MOSIX
    .helpOption('--help', 'display help for command')
    .option('-A', "every user's processes (as ps -A): an administrator sees everyone's, anyone else their own")
    .option('-e', 'the same as -A')
    .option('-a, --all', 'the same as -A')
    .option('--others', 'the same as -A')
    .option('-u, --user <user>', "only USER's processes (an administrator's choice; anyone else may name only themselves)")
    .option('-n, --nmigs', 'display NMIGS, the number of migrations so far (godwit always shows it)')
    .addOption(new Option('-h, --hostnames', 'nodes by their host names (godwit names its nodes: node0, node1, ...; the default)'))
    .addOption(new Option('-M, --short-names', 'nodes by the last component of their host name (the same as -h: godwit’s names have one)'))
    .addOption(new Option('-I, --addresses', 'nodes by the address of their agent').conflicts('numbers'))
    .addOption(new Option('--numbers', 'nodes by their number (as `mossetpe -r` lists them)'))
    .addOption(new Option('-L, --local', 'only local processes: started on your home node').conflicts(['away', 'guests']))
    .addOption(new Option('-O, --away', 'only local processes that run away from your home node').conflicts('guests'))
    .addOption(new Option('-V, --guests', 'only guests: processes started elsewhere that run on your home node'))
    .option('-P, --origpid', 'an ORIGPID column: the PID it had on its home node when it started (godwit keeps it as its PID)')
    .option('-f, --verbose', 'also the user, the PID where it runs now, elapsed time, the last stopped time (STOPPED), the time frozen before its last continue (FROZEN), its own address (ADDRESS, mosrun --ip) and the whole command')
    .option('--memory', 'a MEM column: resident memory where each runs (from its node’s last report)')
    .option('--locked', 'only locked processes (mosrun -L: the balancer never moves them)')
    .option('--exited', 'include processes that have ended')
    .option('--json', 'print the processes as JSON')
    .argument('[bsd]', "ps's letters without a dash: aux (a: every user's, u: with the user, x: without a terminal, w: the whole command)")
    .action(async (bsd, opts) => {
      const letters = bsd === undefined ? { others: false, verbose: false } : parseBsdLetters(bsd);
      const others = letters.others || opts.A === true || opts.e === true || opts.all === true || opts.others === true || opts.user !== undefined;
      const client = await connect();
      const only = opts.local ? 'local' : opts.away ? 'away' : opts.guests ? 'guests' : undefined;
      const selection: ProcessSelection = {
        exited: opts.exited ?? false,
        locked: opts.locked ?? false,
        ...(opts.user !== undefined ? { user: opts.user } : {}),
        ...(only ? { where: { here: client.config.homeNode, only } } : {}),
      };
      // the orchestrator filters by state and owner: it sends no more than is shown
      const asked = await client.listProcesses({
        all: others,
        ...(opts.exited ? {} : { states: ACTIVE_STATES }),
        ...(opts.user !== undefined ? { owner: opts.user } : {}),
      });
      const procs = selectProcesses(asked, selection);
      if (opts.json) return show(procs, true, renderJson);
      const how: NodeLabel = opts.numbers ? 'number' : opts.addresses ? 'address' : 'name';
      const label = nodeLabeller(how === 'name' ? [] : await client.listNodes(), how);
      const verbose = (opts.verbose ?? false) || letters.verbose;
      await print(renderPsTable(procs, { owner: others, verbose, memory: opts.memory ?? false, origPid: opts.origpid ?? false, label }));
    });
}
