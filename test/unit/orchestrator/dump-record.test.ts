import { expect } from 'chai';
import { toDumpRecord } from '../../../orchestrator/src/db/index.js';

describe("a migration's recorded dump", () => {
  const inodes = { in: 1, out: 2, err: 3 };

  it('reads the time CRIU began to stop the program, under its name now and under the old one', () => {
    expect(toDumpRecord(JSON.stringify({ stoppedAt: 5, inodes, bytes: 9, direct: true }))).to.deep.equal({ stoppedAt: 5, inodes, bytes: 9, direct: true });
    // a program frozen before the rename has its record so
    expect(toDumpRecord(JSON.stringify({ frozenAt: 7, inodes, bytes: 9 }))).to.deep.equal({ stoppedAt: 7, inodes, bytes: 9 });
    expect(toDumpRecord(JSON.stringify({ stoppedAt: null, inodes, bytes: 0 })).stoppedAt).to.equal(null);
  });
});
