/** `godwit nodes`: the cluster's nodes and their load. */
import { Command } from '@commander-js/extra-typings';
import { connect } from '../client.js';
import { show } from '../output.js';
import { renderNodesTable } from '../views/nodes.js';

export function buildNodesCommand(name: string) {
  return new Command(name)
    .description("list the cluster's nodes: state, address, CPUs used/capacity, free memory, programs running")
    .option('--json', 'print the nodes as JSON')
    .action(async (opts) => {
      const nodes = await (await connect()).listNodes();
      await show(nodes, opts.json, renderNodesTable);
    });
}
