/** Why a program died, from its epoch's end and the OOM kills counted in its run's group. */
import { expect } from 'chai';
import { howDied } from '../../../orchestrator/src/death.js';
import { diedOf } from '../../../orchestrator/src/db/index.js';

describe('why a program died', () => {
  it('is its node’s memory limit for a SIGKILL with an OOM kill counted in its run', () => {
    expect(howDied({ code: null, signal: 'SIGKILL', oomKills: 1 }, 'node1')).to.deep.equal({
      signal: 'SIGKILL', oomKilled: true, reason: "killed by node1's memory limit (OOM)",
    });
  });

  it('is the signal, by name, for a SIGKILL without one, or when none was counted', () => {
    expect(howDied({ code: null, signal: 'SIGKILL', oomKills: 0 }, 'node1')).to.deep.equal({ signal: 'SIGKILL', oomKilled: false, reason: 'killed by SIGKILL' });
    expect(howDied({ code: null, signal: 'SIGKILL' }, 'node1')).to.deep.equal({ signal: 'SIGKILL', oomKilled: false, reason: 'killed by SIGKILL' });
    expect(howDied({ code: null, signal: 'SIGTERM' }, 'node1')).to.deep.equal({ signal: 'SIGTERM', oomKilled: false, reason: 'killed by SIGTERM' });
  });

  it('says an OOM kill of one of its processes when the program itself ended otherwise', () => {
    expect(howDied({ code: null, signal: 'SIGTERM', oomKills: 2 }, 'node0')).to.deep.equal({
      signal: 'SIGTERM', oomKilled: false, reason: "killed by SIGTERM; node0's memory limit (OOM) had killed 2 of its processes",
    });
    expect(howDied({ code: 1, signal: null, oomKills: 1 }, 'node0')).to.deep.equal({
      oomKilled: false, reason: "exited with status 1 after node0's memory limit (OOM) killed one of its processes",
    });
  });

  it('counts the kills of the epochs before a move, named by the node that counted them', () => {
    // its child killed on node2, it passed the SIGKILL on (exit 137) after it moved to node0
    expect(howDied({ code: null, signal: 'SIGKILL', oomKills: 0 }, 'node0', { kills: 1, node: 'node2' })).to.deep.equal({
      signal: 'SIGKILL', oomKilled: true, reason: "killed by node2's memory limit (OOM)",
    });
    expect(howDied({ code: 1, signal: null }, 'node0', { kills: 2, node: 'node2' })).to.deep.equal({
      oomKilled: false, reason: "exited with status 1 after node2's memory limit (OOM) killed 2 of its processes",
    });
    // killed where it runs now: that node's limit
    expect(howDied({ code: null, signal: 'SIGKILL', oomKills: 1 }, 'node0', { kills: 1, node: 'node2' })).to.deep.equal({
      signal: 'SIGKILL', oomKilled: true, reason: "killed by node0's memory limit (OOM)",
    });
    expect(howDied({ code: 0, signal: null }, 'node0', { kills: 0, node: null })).to.equal(null);
  });

  it('is nothing for a program that exited by itself', () => {
    expect(howDied({ code: 0, signal: null, oomKills: 0 }, 'node0')).to.equal(null);
    expect(howDied({ code: 3, signal: null }, 'node0')).to.equal(null);
  });

  it('reads a recorded death back, and a row from before the column by its signal', () => {
    const row = { exit_code: null, exit_signal: 'SIGKILL', node: 'node2', exit_checkpoint: null };
    expect(diedOf({ ...row, died_oom: 1, died_reason: "killed by node2's memory limit (OOM)" })).to.deep.equal({
      signal: 'SIGKILL', oomKilled: true, reason: "killed by node2's memory limit (OOM)",
    });
    expect(diedOf({ ...row, died_oom: 0, died_reason: null })).to.deep.equal({ signal: 'SIGKILL', oomKilled: false, reason: 'killed by SIGKILL' });
    expect(diedOf({ ...row, exit_code: 0, exit_signal: null, died_oom: 0, died_reason: null })).to.equal(null);
    // ended after its checkpoint, as asked: mosps says checkpointed, mosrun how to bring it back
    expect(diedOf({ ...row, exit_checkpoint: '/ckpt/job.2', died_oom: 0, died_reason: null })).to.equal(null);
  });
});
