import { expect } from 'chai';
import type { Migration } from '@godwit/schemas';
import { freezeTimes } from '../../../orchestrator/src/freeze-times.js';

const steps = (...s: [Migration['state'], number][]): Migration['steps'] => s.map(([state, at]) => ({ state, at }));

describe('a freeze and its continue: the moves’ stop and the time frozen', () => {
  it('takes the time frozen, from the freeze until the continue began, out of the stop', () => {
    const s = steps(['requested', 0], ['dumping', 5], ['frozen', 100], ['restoring', 11_800], ['done', 11_900]);
    expect(freezeTimes(s, 11_850)).to.deep.equal({ stoppedMs: 150, frozenForMs: 11_700 });
  });

  it('counts a continue that failed, leaving it frozen, as time frozen', () => {
    const s = steps(['frozen', 100], ['transferring', 1000], ['frozen', 1200], ['restoring', 5100], ['done', 5200]);
    expect(freezeTimes(s, 5150).frozenForMs).to.equal(5000);
  });

  it('leaves a migration that never waited frozen, or waits still, as it is', () => {
    expect(freezeTimes(steps(['dumping', 0], ['restoring', 50], ['done', 60]), 60)).to.deep.equal({ stoppedMs: 60, frozenForMs: null });
    expect(freezeTimes(steps(['dumping', 0], ['frozen', 50]))).to.deep.equal({ stoppedMs: null, frozenForMs: null });
  });
});
