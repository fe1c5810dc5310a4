/** `godwit why ID`: every reason a process cannot move now (openMosix's /proc/PID/cantmove). */
import { Command } from '@commander-js/extra-typings';
import type { WhyResult } from '@godwit/schemas';
import { connect } from '../client.js';
import { processIdArg } from '../process-id.js';
import { show } from '../output.js';

export function renderWhy(w: WhyResult): string {
  const list = (rs: string[]) => rs.map((r) => `  - ${r}\n`).join('');
  const auto = w.notAutomatically.length ? `the balancer leaves it where it is:\n${list(w.notAutomatically)}` : '';
  if (w.movable) return `process ${w.processId} can move: nothing is in the way of mosmigrate\n${auto}`;
  return `process ${w.processId} cannot move now:\n${list(w.reasons)}${auto}`;
}

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
