import { expect } from 'chai';
import type { BalancerSettings } from '@godwit/schemas';
import { type BalanceNode, type BalanceProc, decide, plan } from '../../../orchestrator/src/balance-decision.js';

const settings: BalancerSettings = { enabled: true, intervalMs: 1000, minCpuSeconds: 5, holdSeconds: 20, maxMoves: 4, autoFreeze: false, memLowPercent: 5, thawHoldSeconds: 10 };
const NOW = 1_000_000;
const node = (name: string, over: Partial<BalanceNode> = {}): BalanceNode => ({ name, usable: true, cpuCapacity: 1, memFreeBytes: 4 * 2 ** 30, ...over });
const three = [node('node0'), node('node1'), node('node2')];
let next = 1;
/** a busy loop sharing its node's one CPU with `sharing` others */
const busy = (where: string, sharing: number, over: Partial<BalanceProc> = {}): BalanceProc => {
  const id = next++;
  return {
    id, node: where, locked: false, needMemBytes: 0, cpuSeconds: 10, lastMove: null,
    load: { id, epoch: 0, cpuSeconds: 10, cpuRate: 1 / sharing, cpuDemand: 1, ioBytesPerS: 0, rssBytes: 1 << 20 },
    ...over,
  };
};
const busyOn = (where: string, n: number) => Array.from({ length: n }, () => busy(where, n));

describe('the balancer decides', () => {
  it('moves a CPU-bound process from the busiest node to the idlest, and says why', () => {
    const move = decide(three, busyOn('node0', 6), settings, NOW);
    expect(move).to.include({ from: 'node0', to: 'node1' });
    expect(move!.reason).to.match(/node0 has 6 CPU-bound process\(es\) for 1 CPU\(s\), node1 0 for 1/);
  });

  it('stops once no move would leave its destination less loaded than its source', () => {
    expect(decide(three, [...busyOn('node0', 2), ...busyOn('node1', 2), ...busyOn('node2', 2)], settings, NOW)).to.equal(null);
    expect(decide(three, [...busyOn('node0', 2), ...busyOn('node1', 1)], settings, NOW)).to.include({ from: 'node0', to: 'node2' });
  });

  it('counts a busy loop on a crowded node as CPU-bound, by what it wants, not the share it gets', () => {
    // twelve busy loops on two-thirds of a CPU: each gets 0.04 of it under a busy machine, and waits the rest
    const crowded = Array.from({ length: 12 }, () => busy('node0', 12)).map((p) => ({ ...p, load: { ...p.load, cpuRate: 0.04, cpuDemand: 0.98 } }));
    const moves = plan(three.map((n) => ({ ...n, cpuCapacity: 2 / 3 })), crowded, settings, NOW, 4);
    expect(moves, 'four at once').to.have.length(4);
    expect(moves[0]!.reason).to.match(/node0 has 12 CPU-bound/);
  });

  it('weighs nodes by their CPUs', () => {
    const nodes = [node('node0'), node('node1', { cpuCapacity: 4 })];
    expect(decide(nodes, [...busyOn('node0', 2), ...busyOn('node1', 3)], settings, NOW)).to.include({ from: 'node0', to: 'node1' });
  });

  it('leaves locked, young, I/O-bound and idle processes where they are', () => {
    const procs = [
      busy('node0', 4, { locked: true }),
      busy('node0', 4, { cpuSeconds: 1 }),
      { ...busy('node0', 4), load: { ...busy('node0', 4).load, ioBytesPerS: 5 << 20 } },
      { ...busy('node0', 4), load: { ...busy('node0', 4).load, cpuRate: 0.01, cpuDemand: 0.01 } },
    ];
    expect(decide(three, procs, settings, NOW)).to.equal(null);
  });

  it('never sends a process straight back where it came from, nor moves it again before its hold', () => {
    const back = busyOn('node0', 3).map((p) => ({ ...p, lastMove: { at: NOW - 3_600_000, from: 'node1' } }));
    expect(decide([node('node0'), node('node1')], back, settings, NOW), 'only node1 to go to: it came from there').to.equal(null);
    expect(decide(three, back, settings, NOW)).to.include({ to: 'node2' });
    const held = busyOn('node0', 3).map((p) => ({ ...p, lastMove: { at: NOW - 5_000, from: 'node2' } }));
    expect(decide(three, held, settings, NOW), 'moved 5 s ago, hold 20 s').to.equal(null);
  });

  it('passes over a node without the memory, or drained, and a move that costs more than it gains', () => {
    expect(decide([node('node0'), node('node1', { memFreeBytes: 1 << 10 }), node('node2', { usable: false })], busyOn('node0', 3), settings, NOW)).to.equal(null);
    const huge = busyOn('node0', 2).map((p) => ({ ...p, cpuSeconds: 5, load: { ...p.load, rssBytes: 3 * 2 ** 30 } }));
    expect(decide(three, huge, settings, NOW), '3 GiB to move for a few seconds of gain').to.equal(null);
  });

  it('needs room at the destination for what a process said it is about to need (needmem)', () => {
    const nodes = [node('node0'), node('node1', { memFreeBytes: 512 * 2 ** 20 })];
    const [a, b] = busyOn('node0', 2);
    expect(decide(nodes, [a!, b!], settings, NOW), 'it fits').to.include({ to: 'node1' });
    const needy = [a!, b!].map((p) => ({ ...p, needMemBytes: 600 * 2 ** 20 }));
    expect(decide(nodes, needy, settings, NOW), '1 MiB resident + 600 MiB needed > 512 MiB free').to.equal(null);
  });

  it('plans several moves at once, each on the cluster as the earlier ones leave it', () => {
    const moves = plan(three, busyOn('node0', 12), settings, NOW, 10);
    const to = (n: string) => moves.filter((m) => m.to === n).length;
    expect(moves, 'from 12/0/0 to 4/4/4').to.have.length(8);
    expect([to('node1'), to('node2')]).to.deep.equal([4, 4]);
    expect(new Set(moves.map((m) => m.processId)).size, 'no process twice').to.equal(8);
    expect(plan(three, busyOn('node0', 12), settings, NOW, 3)).to.have.length(3);
  });
});
