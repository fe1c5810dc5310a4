/**
 * The balancer's choice, from one look at the cluster: which process (if any) to move from the
 * busiest node to one where it would run faster, by the rules openMosix used. A pure function,
 * so each rule is tested on its own.
 *
 * - Only CPU-bound processes count as load: one that wants a CPU (runs, or is ready to run and
 *   waits for a CPU or its node's quota) at least half the time, and does little I/O. A process
 *   that waits on anything else (I/O, a timer, its input) gains nothing from a faster node. What
 *   it wants, not what it gets: on a crowded node a busy loop gets a small share of a CPU, and
 *   would pass for idle, so the busiest node would look the least loaded.
 * - A node's load is its CPU-bound processes per CPU it may use (its control group's quota).
 * - A move must leave the destination less loaded than the source was, and what the process is
 *   expected to gain (its CPU share there against here, over as long again as it has run: past
 *   behaviour is the best guess of the future) must beat the time its memory takes to move.
 * - A destination must have free memory for the process's resident memory and what it said it
 *   is about to need (needmem).
 * - Never a process that is locked, that has used less CPU than minCpuSeconds, or that moved less
 *   than holdSeconds ago; and never back to the node its last move came from (no ping-pong).
 */
import type { BalancerSettings, ProcLoad } from '@godwit/schemas';

/** a conservative rate at which memory moves between nodes, to price a move */
const MOVE_BYTES_PER_S = 300e6;
/** I/O above this, per second, makes a process I/O-bound whatever its CPU use */
const IO_BOUND_BYTES_PER_S = 1 << 20;
/** a process that wants a CPU less of the time than this does not compete for one */
const CPU_BOUND_DEMAND = 0.5;

export interface BalanceNode {
  name: string;
  /** online, not drained, with a load report */
  usable: boolean;
  cpuCapacity: number;
  memFreeBytes: number;
  /** the nodes whose programs its CPU can run (cpu-compat.ts); absent: every node's */
  takesFrom?: ReadonlySet<string>;
}

export interface BalanceProc {
  id: number;
  node: string;
  locked: boolean;
  /** memory it said it is about to need (its control file needmem), beyond its resident memory */
  needMemBytes: number;
  load: ProcLoad;
  /** CPU used over all its runs, on every node */
  cpuSeconds: number;
  /** when it last moved, and from where */
  lastMove: { at: number; from: string } | null;
}

export interface Move {
  processId: number;
  from: string;
  to: string;
  reason: string;
}

export type Classified = 'cpu' | 'io' | 'idle';

/** How a process uses its node: by how much of the time it wants a CPU, and its I/O. */
export function classify(p: ProcLoad): Classified {
  if (p.ioBytesPerS >= IO_BOUND_BYTES_PER_S) return 'io';
  return p.cpuDemand >= CPU_BOUND_DEMAND ? 'cpu' : 'idle';
}

/** The ids of the CPU-bound processes, as measured on the nodes they ran on. */
export function cpuBoundIds(nodes: BalanceNode[], procs: BalanceProc[]): Set<number> {
  const here = new Set(nodes.map((n) => n.name));
  return new Set(procs.filter((p) => here.has(p.node) && classify(p.load) === 'cpu').map((p) => p.id));
}

/**
 * The move to make now, if any. `boundIds` (the CPU-bound processes) defaults to what the loads
 * say; a plan passes the ones measured before its first move, as rates measured on a crowded
 * node say nothing of the node a process is planned to go to.
 */
export function decide(nodes: BalanceNode[], procs: BalanceProc[], settings: BalancerSettings, now: number, boundIds = cpuBoundIds(nodes, procs)): Move | null {
  const bound = new Map(nodes.map((n) => [n.name, procs.filter((p) => p.node === n.name && boundIds.has(p.id))]));
  const load = (n: BalanceNode, extra = 0) => (bound.get(n.name)!.length + extra) / Math.max(n.cpuCapacity, 0.01);
  const sources = nodes.filter((n) => bound.get(n.name)!.length > 0).sort((a, b) => load(b) - load(a));
  for (const from of sources) {
    const candidates = bound.get(from.name)!
      .filter((p) => !p.locked && p.cpuSeconds >= settings.minCpuSeconds && (!p.lastMove || now - p.lastMove.at >= settings.holdSeconds * 1000))
      .sort((a, b) => a.load.rssBytes - b.load.rssBytes || a.id - b.id);
    for (const p of candidates) {
      const targets = nodes
        .filter((n) => n.usable && n.name !== from.name && n.memFreeBytes > p.load.rssBytes + p.needMemBytes && (n.takesFrom?.has(from.name) ?? true))
        .filter((n) => p.lastMove?.from !== n.name)
        .filter((n) => load(n, 1) < load(from))
        .sort((a, b) => load(a, 1) - load(b, 1) || a.name.localeCompare(b.name));
      const to = targets[0];
      if (!to) continue;
      const shareHere = Math.min(1, from.cpuCapacity / bound.get(from.name)!.length);
      const shareThere = Math.min(1, to.cpuCapacity / (bound.get(to.name)!.length + 1));
      const gainS = (shareThere - shareHere) * (p.cpuSeconds / Math.max(shareHere, 0.01));
      const costS = p.load.rssBytes / MOVE_BYTES_PER_S;
      if (gainS <= costS) continue;
      return {
        processId: p.id,
        from: from.name,
        to: to.name,
        reason: `${from.name} has ${bound.get(from.name)!.length} CPU-bound process(es) for ${from.cpuCapacity} CPU(s), ${to.name} ${bound.get(to.name)!.length} for ${to.cpuCapacity}: process ${p.id} (${p.cpuSeconds.toFixed(1)} s of CPU) should gain about ${gainS.toFixed(1)} s for ${(costS * 1000).toFixed(0)} ms of moving`,
      };
    }
  }
  return null;
}

/**
 * Up to `max` moves at once, each decided on the cluster as the ones before it will leave it, so
 * that a node with many surplus processes sheds them to several nodes in one round.
 */
export function plan(nodes: BalanceNode[], procs: BalanceProc[], settings: BalancerSettings, now: number, max: number): Move[] {
  const moves: Move[] = [];
  const boundIds = cpuBoundIds(nodes, procs);
  let view = procs;
  while (moves.length < max) {
    const move = decide(nodes, view, settings, now, boundIds);
    if (!move) break;
    moves.push(move);
    // as it will be: on its new node, just moved (so it is not chosen twice)
    view = view.map((p) => (p.id === move.processId ? { ...p, node: move.to, lastMove: { at: now, from: move.from } } : p));
  }
  return moves;
}
