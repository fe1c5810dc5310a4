import { expect } from 'chai';
import { createOutputFollowers } from '../../../orchestrator/src/output-followers.js';

describe('output followers', () => {
  it('counts attached followers, holds the slowest as the mark, and remembers where the last one left', () => {
    const changed: number[] = [];
    const f = createOutputFollowers((id) => changed.push(id));
    expect(f.slowestAttached(1)).to.equal(undefined);
    const watcher = f.join(1, { attach: false, offset: 0 });
    expect(f.attachedCount(1)).to.equal(0);
    expect(f.slowestAttached(1), 'one that did not attach holds nothing back').to.equal(undefined);
    const a = f.join(1, { attach: true, offset: 100 });
    const b = f.join(1, { attach: true, offset: 50 });
    expect(f.attachedCount(1)).to.equal(2);
    expect(f.slowestAttached(1)).to.equal(50);
    f.written(1, 80);
    expect(f.slowestAttached(1), 'a follower behind moves up; none goes back').to.equal(80);
    f.written(1, 500);
    expect(f.slowestAttached(1)).to.equal(500);
    a.leave();
    a.leave();
    expect(f.attachedCount(1)).to.equal(1);
    expect(f.lastLeft(1), 'while one is attached').to.equal(undefined);
    b.leave();
    watcher.leave();
    expect(f.attachedCount(1)).to.equal(0);
    expect(f.slowestAttached(1)).to.equal(undefined);
    expect(f.lastLeft(1), 'where the last attached one left').to.equal(500);
    f.forget(1);
    expect(f.lastLeft(1)).to.equal(undefined);
    expect(f.attachedCount(2)).to.equal(0);
    expect(changed.every((id) => id === 1) && changed.length >= 6).to.equal(true);
  });
});
