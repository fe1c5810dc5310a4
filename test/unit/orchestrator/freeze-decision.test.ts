import { expect } from 'chai';
import { type FrozenProc, type MemNode, type MemProc, planMemory } from '../../../orchestrator/src/freeze-decision.js';

const MIB = 1024 * 1024;
const settings = { memLowPercent: 5, thawHoldSeconds: 10 };
const NOW = 1_000_000;
/** a 4096 MiB node with `freeMiB` free: below 204.8 MiB it is short; room means 409.6 MiB left */
const node = (name: string, freeMiB: number, over: Partial<MemNode> = {}): MemNode => ({
  name, online: true, usable: true, memTotalBytes: 4096 * MIB, memFreeBytes: freeMiB * MIB, ...over,
});
const proc = (id: number, where: string, rssMiB: number, over: Partial<MemProc> = {}): MemProc => ({
  id, node: where, locked: false, rssBytes: rssMiB * MIB, cannotFreeze: false, ...over,
});
const frozen = (id: number, over: Partial<FrozenProc> = {}): FrozenProc => ({
  id, frz: 'A', home: 'node0', imageNode: 'node0', imageBytes: 100 * MIB, frozenAt: NOW - 60_000, ...over,
});

describe('automatic freezing decides', () => {
  it('does nothing while every node has memory', () => {
    expect(planMemory([node('node0', 3000), node('node1', 250)], [proc(1, 'node0', 500), proc(2, 'node1', 500)], [], settings, NOW)).to.deep.equal([]);
  });

  it('moves the largest process of a short node to the node with the most room, and says why', () => {
    const actions = planMemory(
      [node('node0', 100), node('node1', 1000), node('node2', 2000)],
      [proc(1, 'node0', 300), proc(2, 'node0', 800), proc(3, 'node0', 100)],
      [], settings, NOW,
    );
    expect(actions).to.have.length(1);
    expect(actions[0]).to.include({ kind: 'move', processId: 2, from: 'node0', to: 'node2' });
    expect(actions[0]!.reason).to.match(/node0 is short of memory: 100 MiB free, below 5% of 4096 MiB; process 2 \(800 MiB resident, the most there\) moves to node2/);
  });

  it('takes the most recent of equally large processes first', () => {
    const actions = planMemory([node('node0', 100)], [proc(4, 'node0', 300), proc(9, 'node0', 300)], [], settings, NOW);
    expect(actions[0]).to.include({ kind: 'freeze', processId: 9 });
  });

  it('freezes (FRZ A) when no node has room for it, keeping twice the low mark free there', () => {
    // node1 could hold 800 MiB, but would keep only 200 MiB free: under twice its 204.8 MiB low mark
    const actions = planMemory([node('node0', 100), node('node1', 1000)], [proc(2, 'node0', 800)], [], settings, NOW);
    expect(actions).to.have.length(1);
    expect(actions[0]).to.include({ kind: 'freeze', processId: 2, node: 'node0' });
    expect(actions[0]!.reason).to.match(/is frozen: no other node has room for its 800 MiB/);
  });

  it('never moves to a drained or offline node', () => {
    const nodes = [node('node0', 100), node('node1', 3000, { usable: false }), node('node2', 3000, { usable: false, online: false })];
    expect(planMemory(nodes, [proc(1, 'node0', 200)], [], settings, NOW)[0]).to.include({ kind: 'freeze', processId: 1 });
  });

  it('freezes a locked process rather than move it, saying so', () => {
    const actions = planMemory([node('node0', 100), node('node1', 3000)], [proc(1, 'node0', 200, { locked: true })], [], settings, NOW);
    expect(actions[0]).to.include({ kind: 'freeze', processId: 1 });
    expect(actions[0]!.reason).to.match(/it is locked \(mosrun -L\)/);
  });

  it('skips a process that cannot be frozen (FRZ N), and clears the mark once its node is out of shortage', () => {
    const short = planMemory([node('node0', 100)], [proc(1, 'node0', 900, { cannotFreeze: true }), proc(2, 'node0', 100)], [], settings, NOW);
    expect(short).to.deep.equal([{ kind: 'freeze', processId: 2, node: 'node0', reason: short[0]!.reason }]);
    const fine = planMemory([node('node0', 3000)], [proc(1, 'node0', 900, { cannotFreeze: true })], [], settings, NOW);
    expect(fine).to.deep.equal([{ kind: 'unmark', processId: 1, node: 'node0', reason: 'node0 is no longer short of memory' }]);
  });

  it('acts once per short node per look', () => {
    const actions = planMemory([node('node0', 10), node('node1', 20)], [proc(1, 'node0', 50), proc(2, 'node0', 60), proc(3, 'node1', 70)], [], settings, NOW);
    expect(actions.map((a) => [a.kind, a.processId])).to.deep.equal([['freeze', 2], ['freeze', 3]]);
  });

  it('brings an automatically frozen process back home when room returns, and says why', () => {
    const actions = planMemory([node('node0', 3000), node('node1', 3500)], [], [frozen(1)], settings, NOW);
    expect(actions).to.have.length(1);
    expect(actions[0]).to.include({ kind: 'thaw', processId: 1, to: 'node0' });
    expect(actions[0]!.reason).to.match(/room returned: node0 \(its home\) has 3000 MiB free, room for its 100 MiB image \(frozen with FRZ A\)/);
  });

  it('brings it back elsewhere when its home has no room, never a manually frozen one', () => {
    const nodes = [node('node0', 150), node('node1', 1000), node('node2', 2000)];
    const actions = planMemory(nodes, [], [frozen(1, { frz: 'M' }), frozen(2, { frz: 'E' })], settings, NOW);
    expect(actions.map((a) => [a.kind, a.processId, a.kind === 'thaw' ? a.to : null])).to.deep.equal([['thaw', 2, 'node2']]);
  });

  it('has hysteresis: not before the hold, nor to a node its image would leave under twice the low mark', () => {
    expect(planMemory([node('node0', 3000)], [], [frozen(1, { frozenAt: NOW - 5_000 })], settings, NOW), 'within its 10 s hold').to.deep.equal([]);
    // 500 MiB free, a 100 MiB image: 400 MiB would be left, under twice the 204.8 MiB low mark
    expect(planMemory([node('node0', 500)], [], [frozen(1)], settings, NOW), 'not enough room').to.deep.equal([]);
    expect(planMemory([node('node0', 510)], [], [frozen(1)], settings, NOW)[0]).to.include({ kind: 'thaw', to: 'node0' });
  });

  it('waits for the node holding the image, and brings back one process per node per look, oldest freeze first', () => {
    expect(planMemory([node('node0', 3000, { online: false }), node('node1', 3000)], [], [frozen(1)], settings, NOW)).to.deep.equal([]);
    const actions = planMemory([node('node0', 3000)], [], [frozen(2, { frozenAt: NOW - 20_000 }), frozen(1, { frozenAt: NOW - 30_000 })], settings, NOW);
    expect(actions.map((a) => a.processId)).to.deep.equal([1]);
  });

  it('brings nothing back to a node it is freezing on, nor to one a process is moving to', () => {
    const nodes = [node('node0', 100), node('node1', 3000)];
    const actions = planMemory(nodes, [proc(1, 'node0', 100)], [frozen(2, { home: 'node1' })], settings, NOW);
    expect(actions.map((a) => [a.kind, a.processId])).to.deep.equal([['move', 1]]);
  });
});
