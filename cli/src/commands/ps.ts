/** `mosps` / `godwit ps`: the caller's godwit processes, where they run and where they came from. */
import { Command } from '@commander-js/extra-typings';
import { connect } from '../client.js';
import { print } from '../program.js';
import { renderJson, renderPsTable, selectProcesses } from '../render.js';

export function buildPsCommand(name: string) {
  return new Command(name)
    .description('list godwit processes: ID, home PID, where each runs (WHERE), its home (FROM), migrations (MOSIX mosps)')
    .option('-a, --all', "every user's processes, not only yours (for administrators)")
    .option('--exited', 'include processes that have ended')
    .option('--json', 'print the processes as JSON')
    .action(async (opts) => {
      const procs = selectProcesses(await connect().listProcesses({ all: opts.all ?? false }), { exited: opts.exited ?? false });
      await print(opts.json ? renderJson(procs) : renderPsTable(procs, { owner: opts.all ?? false }));
    });
}
