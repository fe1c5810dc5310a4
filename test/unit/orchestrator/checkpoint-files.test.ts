import { expect } from 'chai';
import { checkpointFiles } from '../../../orchestrator/src/checkpoint-files.js';

describe('checkpoint file names', () => {
  const files = checkpointFiles('/srv/ckpt');

  it("puts a user's names in their own directory, and takes absolute paths only from there", () => {
    expect(files.resolveFile('alice', 'job')).to.equal('/srv/ckpt/alice/job');
    expect(files.resolveFile('alice', 'runs/job.3')).to.equal('/srv/ckpt/alice/runs/job.3');
    expect(files.resolveFile('alice', '/srv/ckpt/alice/job')).to.equal('/srv/ckpt/alice/job');
    expect(files.rel('/srv/ckpt/alice/job.2')).to.equal('alice/job.2');
  });

  it("refuses, saying where checkpoints go, names outside the user's directory or with odd characters", () => {
    for (const bad of ['/etc/passwd', '../bob/job', '/srv/ckpt/bob/job', 'a/../../x', '/srv/ckpt/alice']) {
      expect(() => files.resolveFile('alice', bad), bad).to.throw(/checkpoint files of alice are kept in \/srv\/ckpt\/alice\//);
    }
    for (const bad of ['my job', '.hidden', 'job;rm']) {
      expect(() => files.resolveFile('alice', bad), bad).to.throw(/may hold only letters, digits/);
    }
  });

  it('turns -N and -A into columns: minutes to ms, at least a second', () => {
    expect(files.policyColumns('alice', { file: 'job', max: 3, everyMinutes: 0.5 })).to.deep.equal({ ckpt_file: '/srv/ckpt/alice/job', ckpt_max: 3, ckpt_every_ms: 30_000, ckpt_compress: null });
    expect(files.policyColumns('alice', { file: 'job', everyMinutes: 0.001 }).ckpt_every_ms).to.equal(1000);
    expect(files.policyColumns('alice', undefined)).to.deep.equal({ ckpt_file: null, ckpt_max: null, ckpt_every_ms: null, ckpt_compress: null });
  });

  it("keeps mosrun --compress / --no-compress as 1 / 0, and no choice as NULL (the cluster's)", () => {
    expect(files.policyColumns('alice', { file: 'job', compress: true }).ckpt_compress).to.equal(1);
    expect(files.policyColumns('alice', { file: 'job', compress: false }).ckpt_compress).to.equal(0);
    expect(files.policyColumns('alice', { file: 'job' }).ckpt_compress).to.equal(null);
  });
});
