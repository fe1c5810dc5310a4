import { expect } from 'chai';
import { parseBalancerSettings } from '../../../cli/src/commands/ctl.js';
import { renderBalancerSettings } from '../../../cli/src/views/balancer.js';
import { CliError } from '../../../cli/src/errors.js';

describe('mosctl balance', () => {
  it('reads NAME=SECONDS settings, and refuses any other', () => {
    expect(parseBalancerSettings(['interval=1.5', 'min-cpu=2', 'hold=10', 'max-moves=3', 'mem-low=7.5', 'thaw-hold=4'])).to.deep.equal({
      intervalMs: 1500, minCpuSeconds: 2, holdSeconds: 10, maxMoves: 3, memLowPercent: 7.5, thawHoldSeconds: 4,
    });
    expect(() => parseBalancerSettings(['speed=3'])).to.throw(CliError, /'speed=3' is not a balancer setting: use interval=SECONDS, min-cpu=SECONDS, hold=SECONDS, max-moves=N, mem-low=PERCENT, thaw-hold=SECONDS/);
    expect(() => parseBalancerSettings(['hold=soon'])).to.throw(CliError);
  });

  it('says what the balancer does in words', () => {
    expect(renderBalancerSettings({ enabled: true, intervalMs: 2000, minCpuSeconds: 5, holdSeconds: 20, maxMoves: 4, autoFreeze: true, memLowPercent: 5, thawHoldSeconds: 10 })).to.equal(
      'balancer on: looks every 2 s; moves processes with at least 5 s of CPU, up to 4 at once; a process that moved stays 20 s\n' +
        'automatic freezing on: a node with less than 5% of its memory free is short; its largest process moves away, or else is frozen (FRZ A); processes frozen with A or E come back after 10 s, once a node has room\n',
    );
  });
});
