/** `mossetpe`: the cluster's node list (MOSIX mossetpe -r). */
import { Command } from '@commander-js/extra-typings';
import { connect } from '../client.js';
import { UsageError } from '../errors.js';
import { show } from '../output.js';
import { renderNodeList } from '../views/nodes.js';

export function buildSetpeCommand(name: string) {
  return new Command(name)
    .description("show the cluster's node list (MOSIX mossetpe -r)")
    .option('-r, --read', 'print the node list: number, address, name (the default)')
    .option('-R, --replace <file>', 'replace the node list (not possible at run time: see the message)')
    .option('--json', 'print the nodes as JSON')
    .action(async (opts) => {
      if (opts.replace !== undefined) {
        throw new UsageError(
          `mossetpe -R: godwit's node list is the orchestrator's configuration (each node with the token its agent proves itself with); edit "nodes" in its config.json and restart it (${opts.replace} was not read)`,
        );
      }
      const nodes = await (await connect()).listNodes();
      await show(nodes, opts.json, renderNodeList);
    });
}
