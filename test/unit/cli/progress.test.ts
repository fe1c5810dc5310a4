import { expect } from 'chai';
import { describe as describeProgress, showProgress } from '../../../cli/src/progress.js';

describe('mosmigrate progress lines', () => {
  const step = { migrationId: 5, processId: 3, strategy: 'lazy', at: 0, totalBytes: null };

  it('names the step, and the bytes moved once some have', () => {
    expect(describeProgress({ ...step, state: 'dumping', bytes: 0 }, null)).to.equal('migration 5 of process 3: dumping');
    expect(describeProgress({ ...step, state: 'transferring-memory', bytes: 128 * 2 ** 20, totalBytes: 256 * 2 ** 20 }, 64 * 2 ** 20)).to.equal(
      'migration 5 of process 3: transferring-memory 128 MiB of 256 MiB (64 MiB/s)',
    );
  });

  it('shows each step of the stream once, off a terminal, until the stream ends', async () => {
    async function* steps() {
      yield { ...step, state: 'dumping' as const, bytes: 0 };
      yield { ...step, state: 'dumping' as const, bytes: 0, at: 10 };
      yield { ...step, state: 'restoring' as const, bytes: 0, at: 20 };
    }
    const lines: string[] = [];
    await showProgress(steps(), { tty: false, write: (l) => lines.push(l) });
    expect(lines).to.deep.equal(['migration 5 of process 3: dumping\n', 'migration 5 of process 3: restoring\n']);
  });
});
