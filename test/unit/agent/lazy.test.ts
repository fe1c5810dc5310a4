import { expect } from 'chai';
import { execa } from 'execa';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lazyPagesCounter, lazyPagesStats } from '../../../agent/src/lazy.js';
import { cannotMoveLazily, residentBytes } from '../../../agent/src/preflight.js';

describe('lazy migration on the agent', () => {
  it("tells pages fetched on demand from pages pushed, from CRIU's lazy-pages log", () => {
    const log = [
      '(00.010) 123-4: #PF at 0x7f0000001000',
      '(00.011) 123-4: uffd_copy: 0x7f0000001000/4096',
      '(00.012) 123-4: uffd_copy: 0x7f0000100000/65536',
      '(00.013) 123-4: uffd_copy: 0x7f0000200000/4194304',
      '(00.020) Error (criu/rlimit.c:1): rlimit: Can\'t setup RLIMIT_NOFILE for self: Operation not permitted',
    ].join('\n');
    expect(lazyPagesStats(log)).to.deep.equal({ onDemandBytes: 4096, backgroundBytes: 65536 + 4194304, errors: [] });
    expect(lazyPagesStats('(01.000) Error (criu/uffd.c:9): uffd: 7-8: Error during UFFD copy').errors).to.deep.equal(['uffd: 7-8: Error during UFFD copy']);
  });

  it('counts a growing log by what it gained, a line cut in two counted once whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'godwit-lazy-'));
    const log = join(dir, 'lazy-pages.log');
    try {
      const count = lazyPagesCounter(log);
      expect(await count(), 'no log yet').to.deep.equal({ onDemandBytes: 0, backgroundBytes: 0, errors: [] });
      const parts = ['(00.010) 1-4: #PF at 0x7f0000001000\n(00.011) 1-4: uffd_copy: 0x7f0000001000/4096\n(00.012) 1-4: uffd_co', 'py: 0x7f0000100000/65536\n'];
      appendFileSync(log, parts[0]!);
      expect(await count()).to.deep.equal({ onDemandBytes: 4096, backgroundBytes: 0, errors: [] });
      appendFileSync(log, parts[1]!);
      const [a, b] = await Promise.all([count(), count()]);
      expect(a).to.deep.equal(lazyPagesStats(parts.join('')));
      expect(b, 'callers at the same time get the same figures').to.deep.equal(a);
      appendFileSync(log, '(01.000) Error (criu/uffd.c:9): uffd: 7-8: Error during UFFD copy\n');
      expect((await count()).errors).to.deep.equal(['uffd: 7-8: Error during UFFD copy']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('finds the file locks and FIFOs a stopped copy would keep, without stopping the program', async function () {
    this.timeout(20_000);
    const dir = mkdtempSync(join(tmpdir(), 'godwit-lazy-'));
    // each shell becomes `sleep` (exec), keeping fd 3: one process to look at, and to end
    const locked = execa('sh', ['-c', `exec 3>${join(dir, 'f.lock')}; flock 3; exec sleep 30`], { reject: false, stdio: 'ignore' });
    await execa('mkfifo', [join(dir, 'fifo')]);
    // opening a FIFO read-write does not wait for a writer
    const fifo = execa('sh', ['-c', `exec 3<>${join(dir, 'fifo')}; exec sleep 30`], { reject: false, stdio: 'ignore' });
    try {
      const deadline = Date.now() + 10_000;
      let lockReasons: string[] = [];
      while (Date.now() < deadline && !lockReasons.some((r) => r.includes('holds a lock'))) {
        lockReasons = cannotMoveLazily(locked.pid!);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(lockReasons.join('; ')).to.match(/holds a lock on .*f\.lock/);
      let fifoReasons: string[] = [];
      while (Date.now() < deadline && !fifoReasons.some((r) => r.includes('FIFO'))) {
        fifoReasons = cannotMoveLazily(fifo.pid!);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(fifoReasons.join('; ')).to.match(/has the FIFO .*fifo open/);
      expect(cannotMoveLazily(locked.pid!).join('; '), 'only what each one holds').to.not.match(/FIFO/);
      expect(cannotMoveLazily(fifo.pid!).join('; ')).to.not.match(/lock/);
      expect(residentBytes(process.pid)).to.be.above(10 * 1024 * 1024);
    } finally {
      locked.kill('SIGKILL');
      fifo.kill('SIGKILL');
      await Promise.allSettled([locked, fifo]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
