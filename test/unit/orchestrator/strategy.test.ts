import { expect } from 'chai';
import { GodwitError, type NodeFeatures } from '@godwit/schemas';
import { chooseStrategy } from '../../../orchestrator/src/strategy.js';

const here: NodeFeatures = { criuVersion: '4.2.1', lazyPages: true, dirtyTracking: false };
const ends = (to: NodeFeatures | null = here) => ({ from: { name: 'node0', features: here }, to: { name: 'node1', features: to } });

describe('migration strategy', () => {
  it('auto takes full copy and says why; full is taken as asked', () => {
    expect(chooseStrategy('auto', ends())).to.deep.include({ strategy: 'full' }).and.have.property('reason').that.matches(/^auto: /);
    expect(chooseStrategy('full', ends()).strategy).to.equal('full');
  });

  it('refuses pre-copy where the kernel has no dirty tracking, naming the nodes', () => {
    expect(() => chooseStrategy('precopy', ends())).to.throw(GodwitError, /memory dirty tracking, and the kernel of node0 and node1 has none/);
  });

  it('refuses lazy where userfaultfd is missing or not reported, and says it is not built otherwise', () => {
    expect(() => chooseStrategy('lazy', ends(null))).to.throw(GodwitError, /node1 cannot provide it/);
    expect(() => chooseStrategy('lazy', ends())).to.throw(GodwitError, /not move memory on demand yet/);
  });
});
