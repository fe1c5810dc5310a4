import { expect } from 'chai';
import { closedStreams, restoreStreams } from '../../../orchestrator/src/closed-output.js';

describe('closed output streams', () => {
  it('reads the recorded streams in order, and tells a restore only when one is closed', () => {
    expect(closedStreams({ closed_output: '' })).to.deep.equal([]);
    expect(closedStreams({ closed_output: 'stderr,stdout' })).to.deep.equal(['stdout', 'stderr']);
    expect(closedStreams({ closed_output: 'stdout,bogus' })).to.deep.equal(['stdout']);
    expect(restoreStreams({ closed_output: '' })).to.deep.equal({});
    expect(restoreStreams({ closed_output: 'stderr' })).to.deep.equal({ closedOutput: ['stderr'] });
  });
});
