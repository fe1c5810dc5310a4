/** `godwit why ID`: every reason a process cannot move now (openMosix's /proc/PID/cantmove). */
import { Command } from '@commander-js/extra-typings';
import { connect } from '../client.js';
import { processIdArg } from '../process-id.js';
import { show } from '../output.js';
import { renderWhy } from '../views/why.js';

export function buildWhyCommand(name: string) {
  return new Command(name)
    .description('say why a process cannot move now, every reason in words (found without stopping it)')
    .argument('<id>', "the process: godwit's id or its home PID (see mosps)")
    .option('--json', 'print the answer as JSON')
    .action(async (id, opts) => {
      const w = await (await connect()).why(processIdArg(id));
      await show(w, opts.json, renderWhy);
    });
}
