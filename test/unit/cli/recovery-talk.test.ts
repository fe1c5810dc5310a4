/**
 * What mosrun says around a recovery: the files -R rolls back, asked on a terminal or given with
 * --rollback-files; and the end of a program `mosmigrate ID exit` checkpointed.
 */
import { expect } from 'chai';
import type { CheckpointInfo } from '@godwit/schemas';
import type { GodwitClient } from '../../../cli/src/client.js';
import { CliError } from '../../../cli/src/errors.js';
import { checkpointedExit } from '../../../cli/src/checkpointed-exit.js';
import { EXIT } from '../../../cli/src/output.js';
import { type ConsentIo, consentToRollback } from '../../../cli/src/rollback-consent.js';

const file = (over: Partial<CheckpointInfo['files'][number]>): CheckpointInfo['files'][number] => ({
  pid: 1, fd: 3, path: '/work/progress.log', mode: 'w', append: true, offset: 1234, size: 1234, saved: true, sizeNow: 1282, ...over,
});

const INFO: CheckpointInfo = {
  path: '/ckpt/root/job.2', processId: 7, argv: ['./job'], cwd: '/work', takenAt: Date.UTC(2026, 11, 6, 23, 0, 0), node: 'node0', bytes: 4096, plainBytes: 16384, compressionRatio: 4,
  files: [
    file({}),
    file({ fd: 4, path: '/work/progress.log' }),
    file({ fd: 5, path: '/work/gone.dat', size: 10, sizeNow: null }),
    file({ fd: 6, path: '/etc/input.txt', mode: 'r', append: false, saved: false, size: 6, sizeNow: 6 }),
  ],
};

const LIST = [
  'recovering /ckpt/root/job.2 rolls back these 2 files of /work to the checkpoint (2026-12-06T23:00:00.000Z); what was written to them since is lost:',
  '  /work/progress.log: 1234 bytes then, 1282 bytes now',
  "  /work/gone.dat: 10 bytes then, gone now, out of its owner's reach, or a symbolic link",
].join('\n');

const client = (info: CheckpointInfo) => ({ checkpointInfo: async () => info }) as unknown as GodwitClient;

function io(interactive: boolean, answer = ''): ConsentIo & { said: string[]; asked: string[] } {
  const said: string[] = [];
  const asked: string[] = [];
  return { interactive, said, asked, say: (l) => said.push(l), ask: (q) => (asked.push(q), answer) };
}

async function refusal(p: Promise<void>): Promise<CliError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(CliError);
    return err as CliError;
  }
  throw new Error('it went on');
}

describe('mosrun -R: the files it rolls back', () => {
  it('not on a terminal, refuses without --rollback-files, naming each file with its sizes then and now', async () => {
    const t = io(false);
    const err = await refusal(consentToRollback(client(INFO), 'job.2', false, t));
    expect(err.message).to.equal(`${LIST}\nnothing recovered: not on a terminal, so mosrun -R rolls files back only with --rollback-files`);
    expect(err.exitCode).to.equal(2);
    expect(t.asked).to.deep.equal([]);
  });

  it('with --rollback-files, says what it rolls back and goes on', async () => {
    const t = io(false);
    await consentToRollback(client(INFO), 'job.2', true, t);
    expect(t.said).to.deep.equal([LIST]);
  });

  it('on a terminal, asks: y goes on, anything else changes nothing', async () => {
    const yes = io(true, 'y');
    await consentToRollback(client(INFO), 'job.2', false, yes);
    expect([yes.said, yes.asked]).to.deep.equal([[LIST], ['roll them back and recover it? [y/N] ']]);
    for (const answer of ['n', '', 'whatever']) {
      const err = await refusal(consentToRollback(client(INFO), 'job.2', false, io(true, answer)));
      expect(err.message, `answer ${JSON.stringify(answer)}`).to.equal('nothing recovered: the files are left as they are');
    }
  });

  it('asks nothing when the checkpoint saved no file', async () => {
    const t = io(false);
    await consentToRollback(client({ ...INFO, files: INFO.files.filter((f) => !f.saved) }), 'job.2', false, t);
    expect([t.said, t.asked]).to.deep.equal([[], []]);
  });
});

describe('mosrun: a program ended after its checkpoint', () => {
  it('says where the checkpoint is and the -R that brings it back, and exits 75 (EX_TEMPFAIL)', () => {
    const said: string[] = [];
    expect(checkpointedExit(7, '/ckpt/root/my job.2', (l) => said.push(l))).to.equal(EXIT.CHECKPOINTED.status).and.equal(75);
    expect(said).to.deep.equal([
      "process 7 was checkpointed to /ckpt/root/my job.2 and ended there, as asked (mosmigrate 7 exit); `mosrun -R '/ckpt/root/my job.2'` brings it back",
    ]);
  });
});
