/** `cluster status`: what is up, from the state file's PIDs and the orchestrator's view of the nodes. */
import type { Node } from '@godwit/schemas';
import { GodwitClient } from '../client.js';
import { godwitHome } from '../paths.js';
import { readClientConfig } from './configs.js';
import { isAlive } from './procs.js';
import { homePaths, readState } from './state.js';

export interface StatusReport {
  up: boolean;
  id: number | null;
  statePath: string;
  ready: boolean;
  orchestrator: { url: string; pid: number | null; alive: boolean; reachable: boolean; error: string | null } | null;
  nodes: { name: string; address: string; pid: number | null; alive: boolean; state: 'online' | 'offline' | 'unknown' }[];
  /** the foreground `cluster up` holding it, if any */
  holderPid: number | null;
}

/** What is up: the recorded components' PIDs, and each node's state as the orchestrator sees it. */
export async function clusterStatus(opts: { home?: string } = {}): Promise<StatusReport> {
  const home = opts.home ?? godwitHome();
  const p = homePaths(home);
  const state = readState(p.state);
  if (!state) return { up: false, id: null, statePath: p.state, ready: false, orchestrator: null, nodes: [], holderPid: null };
  const comp = (name: string) => state.components.find((c) => c.name === name);
  const orch = comp('orchestrator');
  let apiNodes: Node[] | null = null;
  let error: string | null = null;
  const config = readClientConfig(p, state);
  if (config) {
    try {
      apiNodes = await new GodwitClient(config, { timeoutMs: 3000 }).listNodes();
    } catch (err) {
      error = (err as Error).message;
    }
  } else {
    error = 'no token to ask the orchestrator with';
  }
  const orchAlive = !!orch && isAlive(orch.pid, orch.startTime);
  const nodes = state.nodes.map((n) => {
    const c = comp(n.name);
    const seen = apiNodes?.find((x) => x.name === n.name);
    return {
      name: n.name,
      address: n.address,
      pid: c?.pid ?? null,
      alive: !!c && isAlive(c.pid, c.startTime),
      state: seen ? seen.state : ('unknown' as const),
    };
  });
  return {
    up: orchAlive || nodes.some((n) => n.alive),
    id: state.id,
    statePath: p.state,
    ready: state.ready,
    orchestrator: { url: state.orchestratorUrl, pid: orch?.pid ?? null, alive: orchAlive, reachable: apiNodes !== null, error },
    nodes,
    holderPid: state.holder && isAlive(state.holder.pid, state.holder.startTime) ? state.holder.pid : null,
  };
}
