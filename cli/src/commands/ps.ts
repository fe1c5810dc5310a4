/** `mosps` / `godwit ps`: the caller's godwit processes, where they run and where they came from. */
import { Command, Option } from '@commander-js/extra-typings';
import { connect } from '../client.js';
import { print } from '../program.js';
import { nodeLabeller, renderJson, renderPsTable, selectProcesses, type NodeLabel } from '../render.js';

export function buildPsCommand(name: string) {
  return new Command(name)
    .description('list godwit processes: ID, home PID, where each runs (WHERE), its home (FROM), migrations (MOSIX mosps)')
    // -h means host names, as in MOSIX
    .helpOption('--help', 'display help for command')
    .option('-O, --others', "other users' processes too (for administrators; MOSIX -O)")
    .option('-a, --all', 'the same as -O')
    .addOption(new Option('-n, --numbers', 'nodes by their number in the cluster (as `godwit nodes` lists them)').conflicts('hosts'))
    .option('-h, --hosts', 'nodes by the host address of their agent')
    .option('-V, --verbose', 'also the user, the PID where it runs now, elapsed time, the last stopped time (STOPPED), the time frozen before its last continue (FROZEN) and the whole command')
    .option('-M, --memory', 'a MEM column: resident memory where each runs (from its node’s last report)')
    .option('-L, --locked', 'only locked processes (mosrun -L: the balancer never moves them)')
    .option('--exited', 'include processes that have ended')
    .option('--json', 'print the processes as JSON')
    // MOSIX flags godwit cannot honour yet: refused with the reason rather than "unknown option"
    .action(async (opts) => {
      const others = (opts.others ?? false) || (opts.all ?? false);
      const client = await connect();
      const procs = selectProcesses(await client.listProcesses({ all: others }), { exited: opts.exited ?? false, locked: opts.locked ?? false });
      if (opts.json) return print(renderJson(procs));
      const how: NodeLabel = opts.numbers ? 'number' : opts.hosts ? 'host' : 'name';
      const label = nodeLabeller(how === 'name' ? [] : await client.listNodes(), how);
      await print(renderPsTable(procs, { owner: others, verbose: opts.verbose ?? false, memory: opts.memory ?? false, label }));
    });
}
