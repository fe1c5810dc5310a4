/** `godwit nodes`: the cluster's nodes and their load. */
import { Command } from '@commander-js/extra-typings';
import { connect } from '../client.js';
import { show } from '../output.js';
import { renderNodesPlatform, renderNodesTable } from '../views/nodes.js';

export function buildNodesCommand(name: string) {
  return new Command(name)
    .description("list the cluster's nodes: state, address, CPUs used/capacity, free memory, programs running")
    .option('-V, --verbose', "also each node's CPU model, CPU feature hash (equal hashes: equal features), kernel and CRIU version, and the CPU features a simulation masks")
    .option('--json', 'print the nodes as JSON')
    .action(async (opts) => {
      const nodes = await (await connect()).listNodes();
      await show(nodes, opts.json, (list) => (opts.verbose ? `${renderNodesTable(list)}\n${renderNodesPlatform(list)}` : renderNodesTable(list)));
    });
}
