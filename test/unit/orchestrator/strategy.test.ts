import { expect } from 'chai';
import { GodwitError, type NodeFeatures, type ProcInspection } from '@godwit/schemas';
import { checkNodes, chooseStrategy } from '../../../orchestrator/src/strategy.js';

const here: NodeFeatures = { criuVersion: '4.2.1', lazyPages: true, dirtyTracking: false };
const ends = (to: NodeFeatures | null = here) => ({ from: { name: 'node0', features: here }, to: { name: 'node1', features: to } });
const program = (residentBytes: number, lazyReasons: string[] = [], copyOnWriteExtraBytes = 0): ProcInspection => ({
  reasons: [],
  lazyReasons,
  residentBytes,
  copyOnWriteExtraBytes,
  carry: { files: [], carriedBytes: 0, limitBytes: 256 * 1024 * 1024, ghostLimitBytes: 1024 * 1024, refusal: null },
});
const MiB = 1024 * 1024;
const big = program(4096 * MiB);
const small = program(MiB);

describe('migration strategy', () => {
  it('auto moves programs lazily whatever their size, and says why', () => {
    expect(chooseStrategy('auto', ends(), small)).to.deep.include({ strategy: 'lazy' }).and.have.property('reason').that.matches(/^auto: lazy, as 1 MiB resident runs again before its memory follows/);
    expect(chooseStrategy('auto', ends(), big)).to.deep.include({ strategy: 'lazy' }).and.have.property('reason').that.matches(/^auto: lazy, as 4096 MiB/);
  });

  it('auto copies whole what cannot move lazily, or where a node lacks userfaultfd', () => {
    expect(chooseStrategy('auto', ends(), program(4096 * MiB, ['process 7 holds a lock on /x']))).to.deep.include({ strategy: 'full' })
      .and.have.property('reason').that.matches(/holds a lock on \/x/);
    expect(chooseStrategy('auto', ends({ ...here, lazyPages: false }), big).reason).to.match(/node1 cannot provide it/);
  });

  it('auto copies whole a tree that shares memory copy-on-write, which a lazy move would lose, and says why', () => {
    // 8 processes sharing 256 MiB: 2048 MiB of resident sizes, 1792 MiB of them copies
    const forked = program(2048 * MiB, [], 1792 * MiB);
    expect(chooseStrategy('auto', ends(), forked)).to.deep.include({ strategy: 'full' })
      .and.have.property('reason').that.matches(/^auto: full copy, as its processes share memory copy-on-write, which a lazy move would copy once per process: 1792 MiB more than the 256 MiB the tree holds/);
    expect(chooseStrategy('lazy', ends(), forked)).to.deep.include({ strategy: 'lazy' }).and.have.property('reason').that.matches(/as asked.*; but its processes share memory copy-on-write/);
    // a little sharing (under 2 % of what the tree holds, or under 4 MiB) is not worth the longer stop
    expect(chooseStrategy('auto', ends(), program(1000 * MiB, [], 10 * MiB)).strategy).to.equal('lazy');
    expect(chooseStrategy('auto', ends(), program(20 * MiB, [], 3 * MiB)).strategy).to.equal('lazy');
    expect(chooseStrategy('auto', ends(), program(1000 * MiB, [], 40 * MiB)).strategy).to.equal('full');
  });

  it('takes full and lazy as asked', () => {
    expect(chooseStrategy('full', ends(), big).strategy).to.equal('full');
    expect(chooseStrategy('lazy', ends(), small).strategy).to.equal('lazy');
  });

  it('refuses pre-copy where the kernel has no dirty tracking, naming the nodes', () => {
    expect(() => checkNodes('precopy', ends())).to.throw(GodwitError, /memory dirty tracking, and the kernel of node0 and node1 has none/);
  });

  it('refuses lazy where userfaultfd is missing or not reported, or the program holds what its stopped copy keeps', () => {
    expect(() => checkNodes('lazy', ends(null))).to.throw(GodwitError, /node1 cannot provide it/);
    expect(() => chooseStrategy('lazy', ends(), program(1, ['process 7 has the FIFO /tmp/f open']))).to.throw(GodwitError, /lazy migration cannot be used: process 7 has the FIFO/);
  });
});
