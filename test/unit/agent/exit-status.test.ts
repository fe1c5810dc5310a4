import { expect } from 'chai';
import { programExit } from '../../../agent/src/exit-status.js';

describe('a program’s exit, from its keeper’s record', () => {
  it('reads tini’s 128+N as the signal death it reports', () => {
    expect(programExit({ code: 143, signal: 0 })).to.deep.equal({ code: null, signal: 'SIGTERM' });
    expect(programExit({ code: 137, signal: 0 })).to.deep.equal({ code: null, signal: 'SIGKILL' });
    expect(programExit({ code: 129, signal: 0 })).to.deep.equal({ code: null, signal: 'SIGHUP' });
  });

  it('keeps a signal the keeper saw itself, and plain exit codes', () => {
    expect(programExit({ code: -1, signal: 15 })).to.deep.equal({ code: null, signal: 'SIGTERM' });
    expect(programExit({ code: 0, signal: 0 })).to.deep.equal({ code: 0, signal: null });
    expect(programExit({ code: 1, signal: 0 })).to.deep.equal({ code: 1, signal: null });
    expect(programExit({ code: 128, signal: 0 })).to.deep.equal({ code: 128, signal: null });
    expect(programExit({ code: 200, signal: 0 })).to.deep.equal({ code: 200, signal: null });
  });
});

describe('the OOM kills a keeper counted', () => {
  it('passes on a count, and leaves out one the keeper could not make', () => {
    expect(programExit({ code: 137, signal: 0, oomKills: 1 })).to.deep.equal({ code: null, signal: 'SIGKILL', oomKills: 1 });
    expect(programExit({ code: 0, signal: 0, oomKills: 0 })).to.deep.equal({ code: 0, signal: null, oomKills: 0 });
    expect(programExit({ code: 137, signal: 0, oomKills: -1 })).to.deep.equal({ code: null, signal: 'SIGKILL' });
  });
});
