import { expect } from 'chai';
import type { Event, Process } from '@godwit/schemas';
import { checkpointFiles } from '../../../orchestrator/src/checkpoint-files.js';
import { createRecovery } from '../../../orchestrator/src/recovery.js';
import { type Cluster, startCluster } from './harness.js';

describe('recovering the processes of a lost node', () => {
  let c: Cluster;
  beforeEach(async () => {
    c = await startCluster();
  });
  afterEach(async () => c.close());

  const recovery = () => createRecovery(c.app.godwit.ctx, c.app.godwit.relay, checkpointFiles(c.config.checkpointDir));
  const row = (id: number) => c.app.godwit.ctx.db.q.processById.get(id)!;
  const events = async (id: number) => ((await c.req('alice', 'GET', `/v1/events?process=${id}`)).json as Event[]).map((e) => `${e.kind}: ${e.message}`);

  async function started(): Promise<number> {
    const res = await c.req('alice', 'POST', '/v1/processes', { argv: ['prog'], cwd: '/', node: 'node0' });
    expect(res.status, res.body).to.equal(201);
    return (res.json as Process).id;
  }

  it('takes a recovery made before the orchestrator stopped as it is, rather than making a second copy', async () => {
    const id = await started();
    // node1 runs the process's next run: a recovery whose record never came
    c.agent('node1').epochs.set(`${id}:1`, {
      proc: { id, epoch: 1, state: 'running', rootPid: 4000, pid: 4001, inodes: { in: 1, out: 2, err: 3 } },
      out: Buffer.alloc(0), ended: false, stdin: [], eof: false, signals: [], listeners: new Set(),
    });
    await recovery().recoverLost(row(id), 'node0');
    const p = row(id);
    expect([p.state, p.node, p.pid, p.epoch, p.out_node, p.out_epoch]).to.deep.equal(['running', 'node1', 4001, 1, 'node1', 1]);
    expect(await events(id)).to.include(`recovered: process ${id} was lost with node node0; its recovery on node1 (run 1, PID 4001), made before the orchestrator stopped, runs on`);
    expect(c.agent('node1').calls.filter((call) => /stage|restore/.test(call)), 'nothing restored again').to.deep.equal([]);
  });

  it('refuses a remapped file with a control character or longer than PATH_MAX before any agent is asked', async () => {
    for (const file of ['/tmp/a\n0 0 /etc/shadow', '/tmp/a\u007f', `/${'a'.repeat(4096)}`, 'relative']) {
      const res = await c.req('alice', 'POST', '/v1/checkpoints/recover', { file: 'job.1', remap: { 3: file } });
      expect(res.status, `${JSON.stringify(file.slice(0, 20))}: ${res.body}`).to.equal(400);
      expect(res.body).to.match(/remap/);
    }
    expect(c.agents.flatMap((a) => a.calls).filter((call) => /checkpoint|stage|restore/.test(call)), 'no agent asked').to.deep.equal([]);
  });

  it('marks lost a process without a checkpoint, saying so', async () => {
    const id = await started();
    await recovery().recoverLost(row(id), 'node0');
    expect(row(id).state).to.equal('lost');
    expect((await events(id)).at(-1)).to.match(new RegExp(`^lost: process ${id} is lost with node node0 \\(.*\\): it has no checkpoint$`));
  });
});
