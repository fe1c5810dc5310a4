/** MOSIX batch mode: mosrun -S MAXJOBS FILE runs every command of FILE, at most MAXJOBS at once. */
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Process } from '@godwit/schemas';
import { api, asGuest, cli, cluster, type Harness } from './harness.js';

describe('batch mode (mosrun -S)', function () {
  /** the cluster as its guest: the jobs run as the unprivileged account */
  let h: Harness;
  before(async function () {
    this.timeout(180_000);
    h = asGuest(await cluster());
  });

  it('runs 6 commands, never more than 2 at once, and reports each exit status', async function () {
    this.timeout(180_000);
    const marker = `batch-${process.pid}-${Date.now()}`;
    const file = join(h.home, 'jobs.txt');
    const lines = Array.from({ length: 6 }, (_, i) => `echo start ${i + 1} ${marker}; sleep 1; echo end ${i + 1}; exit ${i === 4 ? 3 : 0}`);
    writeFileSync(file, `# six jobs\n${lines.join('\n')}\n\n`);
    const res = await cli(h, 'mosrun', ['-S', '2', file]);
    expect(res.exitCode, `mosrun -S exits with the highest status; stderr: ${res.stderr}`).to.equal(3);
    for (let i = 1; i <= 6; i++) {
      expect(res.stdout, `the output of job ${i}`).to.match(new RegExp(`^end ${i}$`, 'm'));
      expect(res.stderr, `job ${i}'s exit status`).to.match(new RegExp(`^godwit: job ${i} \\(process \\d+\\) exited with status ${i === 5 ? 3 : 0}$`, 'm'));
    }
    const all = (await api<Process[]>(h, 'GET', '/v1/processes')).body.filter((p) => p.argv.join(' ').includes(marker));
    expect(all, 'six processes ran').to.have.length(6);
    // at each job's start, how many were running (itself included)
    const most = Math.max(...all.map((p) => all.filter((q) => q.createdAt <= p.createdAt && p.createdAt < q.endedAt!).length));
    expect(most, `jobs running at once (start, end): ${all.map((p) => `${p.createdAt}-${p.endedAt}`).join(', ')}`).to.equal(2);
  });
});
