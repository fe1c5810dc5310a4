import { expect } from 'chai';
import { GodwitError, type Node } from '@godwit/schemas';
import { place } from '../../../orchestrator/src/placement.js';

const GiB = 1024 ** 3;
function node(name: string, cpuUsed: number, freeGiB: number, running = 0, drained = false): Node {
  return {
    name, url: `http://${name}`, state: 'online', lastSeen: 0, features: null, platform: null, drained,
    load: { at: 0, cpuCapacity: 1, cpuUsed, memTotalBytes: 4 * GiB, memFreeBytes: freeGiB * GiB, running },
  };
}
const nodes = [node('node0', 0.9, 1), node('node1', 0.2, 3, 2), node('node2', 0.2, 2, 1)];

describe('placement (mosrun -h, -r, -b, -m)', () => {
  it('starts on the node asked for, or home', () => {
    expect(place(nodes, { home: 'node0' })).to.equal('node0');
    expect(place(nodes, { home: 'node0', node: 'node1' })).to.equal('node1');
  });

  it('-b: the most spare CPU, then the fewest programs', () => {
    expect(place(nodes, { home: 'node0', best: true })).to.equal('node2');
  });

  it('-m: only nodes with that much free memory; none: refused, saying what each has', () => {
    expect(place(nodes, { home: 'node0', best: true, memMiB: 2500 })).to.equal('node1');
    expect(() => place(nodes, { home: 'node0', memMiB: 2048 })).to.throw(GodwitError, /no node among node0 has 2048 MiB of free memory \(node0 1024 MiB free\); nothing was started/);
    expect(() => place(nodes, { home: 'node0', best: true, memMiB: 8192 })).to.throw(GodwitError, /no node has 8192 MiB/);
  });

  it('starts nothing on a drained node, and -b passes it over', () => {
    const drained = [node('node0', 0, 1), node('node1', 0, 3, 0, true)];
    expect(() => place(drained, { home: 'node0', node: 'node1' })).to.throw(GodwitError, /node node1 is drained/);
    expect(place(drained, { home: 'node1', best: true })).to.equal('node0');
  });

  it('says a node is offline, and refuses -b with a node', () => {
    expect(() => place(nodes.slice(1), { home: 'node0' })).to.throw(GodwitError, /node node0 is offline/);
    expect(() => place(nodes, { home: 'node0', node: 'node1', best: true })).to.throw(GodwitError, /not both/);
  });
});
