/** `mosctl`: the cluster's administration (MOSIX mosctl): drain (expel) and undrain a node, status. */
import { Command } from '@commander-js/extra-typings';
import type { DrainResult } from '@godwit/schemas';
import { connect } from '../client.js';
import { print } from '../program.js';
import { renderJson, renderNodesTable } from '../render.js';

export function renderDrain(r: DrainResult): string {
  const lines = [`node ${r.node} is drained: nothing new starts or moves there`];
  for (const m of r.moved) lines.push(`  process ${m.processId} moved to ${m.to}`);
  for (const f of r.frozen) lines.push(`  process ${f.processId} frozen there (FRZ E): ${f.reason}`);
  for (const f of r.failed) lines.push(`  process ${f.processId} still runs there: ${f.reason}`);
  return `${lines.join('\n')}\n`;
}

export function buildCtlCommand(name: string) {
  const cmd = new Command(name).description("administer the cluster (MOSIX mosctl): drain or undrain a node, show the nodes' state");
  cmd
    .command('drain')
    .description('expel: move every process off NODE (freezing those that fit nowhere) and start nothing new there (admin)')
    .argument('<node>', 'the node')
    .option('--json', 'print what happened to each process as JSON')
    .action(async (node, opts) => {
      const r = await connect().drain(node);
      await print(opts.json ? renderJson(r) : renderDrain(r));
    });
  cmd
    .command('undrain')
    .description('let programs start and move to NODE again (admin)')
    .argument('<node>', 'the node')
    .option('--json', 'print the node as JSON')
    .action(async (node, opts) => {
      const n = await connect().undrain(node);
      await print(opts.json ? renderJson(n) : `node ${n.name} takes programs again\n`);
    });
  cmd
    .command('status')
    .description("the nodes: state (drained or not), CPUs used/capacity, free memory, programs running")
    .option('--json', 'print the nodes as JSON')
    .action(async (opts) => {
      const nodes = await connect().listNodes();
      await print(opts.json ? renderJson(nodes) : renderNodesTable(nodes));
    });
  return cmd;
}
