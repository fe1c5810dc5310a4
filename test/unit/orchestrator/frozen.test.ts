/**
 * A frozen process against fake agents: signals sent to it wait and reach it, in order, once it
 * continues (SIGKILL alone ends it at once); STOPPED is the moves' stop, the time frozen apart;
 * a process `mosmigrate ID exit` ended names its checkpoint in its exit.
 */
import { expect } from 'chai';
import { type Cluster, decodeOutput, startCluster, waitFor } from './harness.js';

const RUN = { argv: ['/bin/prog'], cwd: '/tmp', node: 'node0' };

describe('orchestrator: a frozen process', function () {
  let c: Cluster;
  beforeEach(async () => {
    c = await startCluster({ nodes: 2 });
  });
  afterEach(async () => {
    await c.close();
  });

  async function frozenProcess(): Promise<{ id: number; frozenAt: number }> {
    const id = (await c.req('alice', 'POST', '/v1/processes', RUN)).json.id as number;
    const frz = await c.req('alice', 'POST', `/v1/processes/${id}/freeze`);
    expect(frz.status, frz.body).to.equal(200);
    return { id, frozenAt: Date.now() };
  }

  it('keeps the signals sent to it until it continues, then delivers them in order; STOPPED leaves the time frozen out', async () => {
    const { id, frozenAt } = await frozenProcess();
    for (const signal of ['SIGUSR1', 'SIGTERM']) {
      const res = await c.req('alice', 'POST', `/v1/processes/${id}/signal`, { signal });
      expect(res.status, res.body).to.equal(202);
      expect(res.json).to.deep.equal({
        queued: true,
        message: `process ${id} is frozen: ${signal} waits until it continues (\`mosmigrate ${id} continue\`), and reaches it then; SIGKILL ends it now`,
      });
    }
    expect((await c.req('alice', 'GET', `/v1/processes/${id}`)).json.state, 'a signal does not end a frozen process').to.equal('frozen');
    // frozen long enough to tell the time frozen from the moves' stop (the fake's dump and restore take ms)
    await waitFor(() => Date.now() - frozenAt >= 1500, '1.5 s frozen', 5000);

    const cont = await c.req('alice', 'POST', `/v1/processes/${id}/continue`, { to: 'node1' });
    expect(cont.status, cont.body).to.equal(200);
    expect(c.agent('node1').current(id)!.signals, 'what waited, in the order sent, right after the restore').to.deep.equal(['SIGUSR1', 'SIGTERM']);
    expect(cont.json.frozenForMs).to.be.at.least(1500);
    expect(cont.json.stoppedMs, `stopped: the freeze's dump and the continue's restore only (frozen ${cont.json.frozenForMs} ms)`).to.be.below(1000);
    const p = (await c.req('alice', 'GET', `/v1/processes/${id}`)).json;
    expect(p.lastStoppedMs).to.equal(cont.json.stoppedMs);
    expect(p.lastFrozenForMs).to.equal(cont.json.frozenForMs);
    const events = (await c.req('alice', 'GET', `/v1/events?process=${id}`)).json.map((e: { kind: string }) => e.kind);
    expect(events.filter((k: string) => k === 'signal-queued' || k === 'signal')).to.deep.equal(['signal-queued', 'signal-queued', 'signal', 'signal']);
  });

  it('ends at once with SIGKILL, dropping the signals that waited', async () => {
    const { id } = await frozenProcess();
    expect((await c.req('alice', 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGINT' })).status).to.equal(202);
    const kill = await c.req('alice', 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
    expect(kill.status, kill.body).to.equal(204);
    expect((await c.req('alice', 'GET', `/v1/processes/${id}`)).json).to.include({ state: 'exited', exitSignal: 'SIGKILL' });
    expect(c.app.godwit.ctx.db.q.queuedSignalsOf.all(id)).to.deep.equal([]);
  });

  it('names, in the exit its followers read, the checkpoint after which it was ended', async () => {
    const id = (await c.req('alice', 'POST', '/v1/processes', RUN)).json.id as number;
    c.app.godwit.ctx.db.q.setExitCheckpoint.run({ id, path: '/ckpt/alice/job.2' });
    c.agent('node0').exit(id, null, 'SIGKILL');
    await waitFor(async () => (await c.req('alice', 'GET', `/v1/processes/${id}`)).json.state === 'exited', 'the exit recorded');
    const out = decodeOutput((await c.req('alice', 'GET', `/v1/processes/${id}/output`)).body);
    expect(out.exit).to.deep.equal({ code: null, signal: 'SIGKILL', checkpoint: '/ckpt/alice/job.2' });
    expect((await c.req('alice', 'GET', `/v1/processes/${id}`)).json.exitCheckpoint).to.equal('/ckpt/alice/job.2');
  });
});
