import { expect } from 'chai';
import { execa } from 'execa';
import { join } from 'node:path';
import { copyOnWriteExtraBytes } from '../../../agent/src/cow-sharing.js';
import { treePids } from '../../../agent/src/preflight.js';

const MiB = 1024 * 1024;
const cowtree = join(import.meta.dirname, '..', '..', 'programs', 'bin', 'cowtree');

/** runs cowtree NPROC MIB until it says it is ready, then fn with its tree; ends every process */
async function withTree(nproc: number, mib: number, fn: (pids: number[]) => void): Promise<void> {
  const run = execa(cowtree, [String(nproc), String(mib)], { reject: false, stdin: 'pipe' });
  let pids: number[] = [];
  try {
    let out = '';
    await new Promise<void>((ready, failed) => {
      run.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (/^ready /m.test(out)) ready();
      });
      run.on('exit', (code) => failed(new Error(`cowtree ${nproc} ${mib} ended (${code}) before it was ready; stdout: ${out}`)));
    });
    pids = treePids(run.pid!);
    expect(pids, 'the whole tree, each process found').to.have.length(nproc);
    fn(pids);
  } finally {
    for (const pid of pids.length ? pids : [run.pid!]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // ended already
      }
    }
    await run;
  }
}

describe('copy-on-write sharing in a tree', function () {
  this.timeout(60_000);
  before(function () {
    // the page frame numbers that tell one page from another are shown to root only
    if (process.getuid?.() !== 0) this.skip();
  });

  it('counts the copies a lazy move would make: each shared page once per process beyond the first', async () => {
    await withTree(4, 32, (pids) => {
      const extra = copyOnWriteExtraBytes(pids);
      expect(extra, `${extra / MiB} MiB for 4 processes sharing 32 MiB`).to.be.within(3 * 32 * MiB, 3 * 32 * MiB + 8 * MiB);
    });
  });

  it('counts nothing for one process alone, nor for processes whose memory is their own', async () => {
    await withTree(1, 32, (pids) => expect(copyOnWriteExtraBytes(pids)).to.equal(0));
    await withTree(2, 32, (pids) => {
      // each alone: what they share with the other is no one's to keep
      expect(copyOnWriteExtraBytes([pids[0]!])).to.equal(0);
      expect(copyOnWriteExtraBytes([pids[1]!])).to.equal(0);
    });
  });
});
