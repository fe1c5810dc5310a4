/** `mosctl`: the cluster's administration (MOSIX mosctl): drain (expel) and undrain a node, the balancer and automatic freezing, status. */
import { Command } from '@commander-js/extra-typings';
import type { BalancerUpdate } from '@godwit/schemas';
import { UsageError } from '../errors.js';
import { connect, type GodwitClient } from '../client.js';
import { nodeNamed, resolveNode } from '../node-numbers.js';
import { nodeStatus, renderNodeStatus, type NodeStatus } from '../node-status.js';
import { print, show } from '../output.js';
import { renderLimits } from '../views/limits.js';
import { renderWhois } from '../views/nodes.js';
import { renderBalancerSettings, renderBalancerStatus, renderDrain } from '../views/balancer.js';

const SETTING_NAMES: Record<string, (v: number) => BalancerUpdate> = {
  interval: (v) => ({ intervalMs: Math.round(v * 1000) }),
  'min-cpu': (v) => ({ minCpuSeconds: v }),
  hold: (v) => ({ holdSeconds: v }),
  'max-moves': (v) => ({ maxMoves: Math.max(1, Math.round(v)) }),
  'mem-low': (v) => ({ memLowPercent: Math.min(100, v) }),
  'thaw-hold': (v) => ({ thawHoldSeconds: v }),
};

export function parseBalancerSettings(pairs: string[]): BalancerUpdate {
  let out: BalancerUpdate = {};
  for (const pair of pairs) {
    const m = /^([a-z-]+)=([0-9]+(?:\.[0-9]+)?)$/.exec(pair);
    const set = m ? SETTING_NAMES[m[1]!] : undefined;
    if (!m || !set) {
      throw new UsageError(`'${pair}' is not a balancer setting: use interval=SECONDS, min-cpu=SECONDS, hold=SECONDS, max-moves=N, mem-low=PERCENT, thaw-hold=SECONDS`);
    }
    out = { ...out, ...set(Number(m[2])) };
  }
  return out;
}

/** The status of the node `spec` names (number, name or address), or of the caller's home node. */
async function statusOf(client: GodwitClient, spec: string | undefined): Promise<NodeStatus> {
  const [nodes, procs] = await Promise.all([client.listNodes(), client.listProcesses({ all: true })]);
  return nodeStatus(resolveNode(nodes, spec ?? client.config.homeNode), procs);
}

export function buildCtlCommand(name: string) {
  const cmd = new Command(name).description("administer the cluster (MOSIX mosctl): drain or undrain a node, the load balancer, the nodes' state");
  // drain and undrain: one node, named as mossetpe -r lists it, by name or by address
  const onNode = <T,>(verb: string, description: string, json: string, act: (c: GodwitClient, node: string) => Promise<T>, view: (r: T) => string) =>
    cmd
      .command(verb)
      .description(description)
      .argument('<node>', 'the node: its number (as `mossetpe -r` lists them), name or address')
      .option('--json', json)
      .action(async (node, opts) => {
        const client = await connect();
        await show(await act(client, await nodeNamed(client, node)), opts.json, view);
      });
  onNode('drain', 'expel: move every process off NODE (freezing those that fit nowhere) and start nothing new there (admin)', 'print what happened to each process as JSON', (c, n) => c.drain(n), renderDrain);
  onNode('undrain', 'let programs start and move to NODE again (admin)', 'print the node as JSON', (c, n) => c.undrain(n), (n) => `node ${n.name} takes programs again\n`);
  const balance = cmd.command('balance').description('the automatic load balancer: on, off, its settings and latest moves');
  balance
    .command('on')
    .description('let the balancer move processes (admin)')
    .action(async () => print(renderBalancerSettings(await (await connect()).setBalancer({ enabled: true }))));
  balance
    .command('off')
    .description('stop the balancer; nothing moves by itself (admin)')
    .action(async () => print(renderBalancerSettings(await (await connect()).setBalancer({ enabled: false }))));
  balance
    .command('set')
    .description('change its settings (admin): interval=SECONDS min-cpu=SECONDS hold=SECONDS max-moves=N, and automatic freezing\'s mem-low=PERCENT thaw-hold=SECONDS')
    .argument('<settings...>', 'NAME=VALUE pairs')
    .action(async (pairs) => print(renderBalancerSettings(await (await connect()).setBalancer(parseBalancerSettings(pairs)))));
  const autofreeze = cmd.command('autofreeze').description('automatic freezing on memory shortage, and thawing when room returns; its settings are under `balance set`');
  for (const on of [true, false]) {
    autofreeze
      .command(on ? 'on' : 'off')
      .description(on ? 'freeze processes of a node short of memory, and bring them back when room returns (admin)' : 'freeze and thaw nothing by itself (admin)')
      .action(async () => print(renderBalancerSettings(await (await connect()).setBalancer({ autoFreeze: on }))));
  }
  balance
    .command('status')
    .description('its settings and its latest decisions, newest first')
    .option('--json', 'print them as JSON')
    .action(async (opts) => {
      const st = await (await connect()).balancer();
      await show(st, opts.json, renderBalancerStatus);
    });
  cmd
    .command('localstatus')
    .description('this node (your home node): its state, load and programs, and the balancer')
    .option('--json', 'print the node and the balancer as JSON')
    .action(async (opts) => {
      const client = await connect();
      const [status, balancer] = await Promise.all([statusOf(client, undefined), client.balancer()]);
      await show({ node: status, balancer: balancer.settings }, opts.json, (s) => `${renderNodeStatus(s.node)}${renderBalancerSettings(s.balancer)}`);
    });
  cmd
    .command('status')
    .description("a node's state (your home node's by default): whether it takes programs, its load, CPUs, frozen and running programs, memory (`godwit nodes`: all of them); then the limits and each user's use of them (yours only, unless you are an administrator)")
    .argument('[node]', 'the node: its number (as `mossetpe -r` lists them), name or address')
    .option('--json', 'print it as JSON')
    .action(async (node, opts) => {
      const client = await connect();
      const [status, limits] = await Promise.all([statusOf(client, node), client.limits()]);
      await show({ ...status, limits }, opts.json, (s) => `${renderNodeStatus(s)}${renderLimits(s.limits)}`);
    });
  cmd
    .command('whois')
    .description("convert between a node's number (as `mossetpe -r` lists them), name and address: a number gives the name; a name or an address gives the number")
    .argument('<node>', 'a node number, name or address')
    .option('--json', 'print the number, name and address as JSON')
    .action(async (spec, opts) => {
      const n = resolveNode(await (await connect()).listNodes(), spec);
      await show({ number: n.number, name: n.name, address: n.address }, opts.json, (w) => renderWhois(w, spec));
    });
  return cmd;
}
