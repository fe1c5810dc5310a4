import { expect } from 'chai';
import { describe as describeProgress } from '../../../cli/src/progress.js';

describe('mosmigrate progress lines', () => {
  const step = { migrationId: 5, processId: 3, strategy: 'lazy', at: 0, totalBytes: null };

  it('names the step, and the bytes moved once some have', () => {
    expect(describeProgress({ ...step, state: 'dumping', bytes: 0 }, null)).to.equal('migration 5 of process 3: dumping');
    expect(describeProgress({ ...step, state: 'transferring-memory', bytes: 128 * 2 ** 20, totalBytes: 256 * 2 ** 20 }, 64 * 2 ** 20)).to.equal(
      'migration 5 of process 3: transferring-memory 128 MiB of 256 MiB (64 MiB/s)',
    );
  });
});
