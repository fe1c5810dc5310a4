/**
 * A local cluster's network: a bridge on the host, and per node a network namespace joined to it
 * by a veth pair, with its address and a route through the bridge. Made as `up` records each
 * piece, removed by `down` by record and by name.
 */
import fs from 'node:fs';
import * as ip from './ip.js';
import { names } from './names.js';
import { isAlive, pidsInNetns, terminate, type Tracked } from './procs.js';
import type { ClusterState, Resource } from './state.js';

/** Records a resource, then makes it (see clusterUp). */
export type Make = (r: Resource, create: () => Promise<void> | void) => Promise<void>;

/**
 * The nodes' links carry frames of up to 64 KiB, as loopback does: they are virtual, a frame
 * costs about the same whatever its size, and 1500 bytes is a limit of Ethernet hardware they do
 * not have; with small frames a lazy move's receiver spends much of its time acknowledging.
 */
const LINK_MTU = 65535;

/**
 * Each node's namespace gets a TCP connection table of its own: at every dump CRIU lists the
 * sockets of its namespace (sock_diag), which walks the whole table while the program is stopped,
 * and a namespace shares the host's large one unless made with `tcp_child_ehash_entries` set
 * (Linux 6.1+). This size still holds thousands of connections.
 */
const NODE_TCP_EHASH = 8192;
const CHILD_EHASH = '/proc/sys/net/ipv4/tcp_child_ehash_entries';

async function addNodeNetns(name: string): Promise<void> {
  // read when a namespace is made: set for this one only, then the host's value again
  const before = fs.existsSync(CHILD_EHASH) ? fs.readFileSync(CHILD_EHASH, 'utf8').trim() : undefined;
  if (before !== undefined) fs.writeFileSync(CHILD_EHASH, String(NODE_TCP_EHASH));
  try {
    await ip.addNetns(name);
  } finally {
    if (before !== undefined) fs.writeFileSync(CHILD_EHASH, before);
  }
}

export async function makeNetwork(state: ClusterState, make: Make): Promise<void> {
  const bridge = names.bridge(state.id);
  await make({ kind: 'bridge', name: bridge }, async () => {
    if (!(await ip.linkExists(bridge))) await ip.addBridge(bridge);
    await ip.setMtu(bridge, LINK_MTU);
    await ip.setAddress(`${names.gateway(state.id)}/24`, bridge);
    await ip.setUp(bridge);
  });
  const existingNetns = await ip.listNetns();
  for (const [i, n] of state.nodes.entries()) {
    await make({ kind: 'netns', name: n.netns }, async () => {
      if (!existingNetns.includes(n.netns)) await addNodeNetns(n.netns);
    });
    const peer = names.peer(state.id, i);
    await make({ kind: 'veth', name: n.veth }, async () => {
      if (!(await ip.linkExists('eth0', n.netns))) {
        if (!(await ip.linkExists(n.veth))) await ip.addVeth(n.veth, peer);
        if (await ip.linkExists(peer)) await ip.moveLinkToNetns(peer, n.netns);
        await ip.renameLink(peer, 'eth0', n.netns);
      }
      await ip.setMtu(n.veth, LINK_MTU);
      await ip.setMaster(n.veth, bridge);
      await ip.setUp(n.veth);
    });
    await ip.setUp('lo', n.netns);
    await ip.setMtu('eth0', LINK_MTU, n.netns);
    await ip.setAddress(`${n.address}/24`, 'eth0', n.netns);
    await ip.setUp('eth0', n.netns);
    await ip.setDefaultRoute(names.gateway(state.id), n.netns);
  }
}

/**
 * Removes cluster `id`'s namespaces and links: those recorded, and any carrying its names (an
 * `up` that crashed before recording them). `attempt` says what was removed or what went wrong.
 */
export async function removeNetwork(id: number, resources: Resource[], attempt: (what: string, fn: () => Promise<unknown>) => Promise<void>): Promise<void> {
  const nsPattern = new RegExp(`^gw${id}n\\d+$`);
  const linkPattern = new RegExp(`^gw${id}[vp]\\d+$`);
  const recordedNs = resources.flatMap((r) => (r.kind === 'netns' ? [r.name] : []));
  for (const ns of (await ip.listNetns()).filter((n) => nsPattern.test(n) || recordedNs.includes(n))) {
    const left = pidsInNetns(`/run/netns/${ns}`);
    if (left.length) await attempt(`processes ${left.map((p) => p.pid).join(' ')} left in network namespace ${ns}`, () => killAll(left));
    await attempt(`network namespace ${ns}`, () => ip.deleteNetns(ns));
  }
  const recordedLinks = resources.flatMap((r) => (r.kind === 'veth' || r.kind === 'bridge' ? [r.name] : []));
  const links = await ip.listLinks();
  for (const link of links.filter((l) => linkPattern.test(l) || recordedLinks.includes(l) || l === names.bridge(id))) {
    // Deleting a namespace takes its veth peer along; the host end may already be gone.
    if (!(await ip.linkExists(link))) continue;
    await attempt(`link ${link}`, () => ip.deleteLink(link));
  }
}

/** Ends each at once (terminate() without grace), and fails naming any that outlived its SIGKILL. */
async function killAll(procs: Tracked[]): Promise<void> {
  await terminate(procs, 0);
  const alive = procs.filter((p) => isAlive(p.pid, p.startTime));
  if (alive.length) throw new Error(`still alive after SIGKILL: ${alive.map((p) => p.pid).join(' ')}`);
}
