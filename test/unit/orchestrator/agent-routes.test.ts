import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Checkpoint, CheckpointInfo, Migration, Process } from '@godwit/schemas';
import { startFakeAgent } from './fake-agent.js';
import { type Cluster, decodeOutput, startCluster, waitFor } from './harness.js';

const AGENT_SRC = join(import.meta.dirname, '../../../agent/src');

/** The orchestrator through the agent routes a plain move leaves aside: direct and lazy moves, checkpoints, recoveries. */
describe('orchestrator: the agent routes of direct and lazy moves and of checkpoints', function () {
  let c: Cluster;
  beforeEach(async () => {
    c = await startCluster();
  });
  afterEach(async () => c.close());

  async function runOn(node: string): Promise<number> {
    const res = await c.req('alice', 'POST', '/v1/processes', { argv: ['/bin/prog'], cwd: '/tmp', node });
    expect(res.status, res.body).to.equal(201);
    return (res.json as Process).id;
  }
  const called = (node: string, pattern: RegExp) => c.agent(node).calls.filter((call) => pattern.test(call));

  it('moves a program whose pages go straight to the destination, ending its stopped copy and handing over its unread input', async () => {
    for (const a of c.agents) a.directDumps = true;
    const id = await runOn('node0');
    c.agent('node0').write(id, 'o', 'before\n');
    // input the program has not read when it stops: the stopped copy hands it over
    const input = await c.stdin('alice', id, Buffer.from('unread\n'), true);
    expect(input.status, input.body).to.equal(204);
    const res = await c.req('alice', 'POST', `/v1/processes/${id}/migrate`, { to: 'node1' });
    expect(res.status, res.body).to.equal(200);
    expect(res.json as Migration).to.include({ state: 'done', strategy: 'full' });
    expect(called('node1', /page-server/), 'a page server at the destination').to.have.length(1);
    expect(called('node0', /\/finish$/), 'the stopped copy ended').to.have.length(1);
    expect(c.agent('node0').epochs.get(`${id}:0`)?.proc.state ?? 'deleted', 'the source run').to.be.oneOf(['dumped', 'deleted']);
    const there = c.agent('node1').current(id)!;
    expect([Buffer.concat(there.stdin).toString(), there.eof], 'the input at the destination').to.deep.equal(['unread\n', true]);
    c.agent('node1').write(id, 'o', 'after\n');
    c.agent('node1').exit(id, 0);
    const out = decodeOutput((await c.req('alice', 'GET', `/v1/processes/${id}/output?follow=true`)).body);
    expect(out.text).to.equal('before\nafter\n');
  });

  it('lets the stopped copy run on at the source when the restore of a direct move fails', async () => {
    for (const a of c.agents) a.directDumps = true;
    const id = await runOn('node0');
    c.agent('node1').fail.restore = { code: 'GODWIT_ERR_CANNOT_RESTORE', message: 'CRIU could not restore it: no such cgroup' };
    const res = await c.req('alice', 'POST', `/v1/processes/${id}/migrate`, { to: 'node1' });
    expect(res.json.code, res.body).to.equal('GODWIT_ERR_CANNOT_RESTORE');
    expect(called('node0', /\/resume$/), 'the stopped copy resumed').to.have.length(1);
    expect(c.agent('node0').current(id)!.proc).to.include({ epoch: 0, state: 'running' });
    expect((await c.req('alice', 'GET', `/v1/processes/${id}`)).json).to.include({ node: 'node0', state: 'running', nmigs: 0 });
  });

  describe('where both nodes have userfaultfd', () => {
    beforeEach(async () => {
      for (const a of c.agents) a.features.lazyPages = true;
      // the agents say so in their hello
      await c.restart();
    });

    it('moves a program lazily: it runs at the destination while its pages follow, then its copy at the source ends', async () => {
      const id = await runOn('node0');
      const res = await c.req('alice', 'POST', `/v1/processes/${id}/migrate`, { to: 'node1', strategy: 'lazy' });
      expect(res.status, res.body).to.equal(200);
      const m = res.json as Migration;
      expect(m).to.include({ state: 'done', strategy: 'lazy', onDemandBytes: 1024, backgroundBytes: 3072 });
      expect(m.steps.map((s) => s.state)).to.include('transferring-memory');
      expect(called('node1', /\/lazy/), 'the pages followed at the destination').to.not.have.length(0);
      expect(called('node0', /\/finish$/)).to.have.length(1);
      expect((await c.req('alice', 'GET', `/v1/processes/${id}`)).json).to.include({ node: 'node1', state: 'running', nmigs: 1 });
    });

    it('ends the copy at the destination and runs the intact one at the source when the pages stop coming', async () => {
      const id = await runOn('node0');
      const lazy = c.agent('node1').lazy;
      const stalled = { running: false, ok: false, onDemandBytes: 0, backgroundBytes: 0, reason: 'the source stopped serving pages', endedAt: null };
      // the migration's id is known once it is asked for: every id it may take fails
      for (let mid = 1; mid <= 5; mid++) lazy.set(mid, stalled);
      const res = await c.req('alice', 'POST', `/v1/processes/${id}/migrate`, { to: 'node1', strategy: 'lazy' });
      expect(res.json.code, res.body).to.equal('GODWIT_ERR_TRANSFER_FAILED');
      expect(res.json.message).to.contain('the source stopped serving pages');
      expect(called('node1', /\/signal$/), 'the copy at the destination ended').to.have.length(1);
      expect(called('node0', /\/resume$/)).to.have.length(1);
      expect((await c.req('alice', 'GET', `/v1/processes/${id}`)).json).to.include({ node: 'node0', state: 'running' });
    });
  });

  it('checkpoints a program, describes the checkpoint with the sizes of its files now, and recovers it on another node', async () => {
    const id = await runOn('node0');
    const taken = await c.req('alice', 'POST', `/v1/processes/${id}/checkpoint`, { then: 'exit' });
    expect(taken.status, taken.body).to.equal(200);
    const ckpt = taken.json as Checkpoint;
    expect(called('node0', /\/checkpoint$/)).to.have.length(1);
    await waitFor(async () => (await c.req('alice', 'GET', `/v1/processes/${id}`)).json.state === 'exited', 'the process ended after its checkpoint');

    const info = await c.req('alice', 'GET', `/v1/checkpoints/info?file=${encodeURIComponent(ckpt.path)}`);
    expect(info.status, info.body).to.equal(200);
    expect(info.json as CheckpointInfo).to.include({ processId: id, node: 'node0' });
    expect(c.agents.flatMap((a) => a.calls).filter((call) => call.includes('/v1/file-sizes'))).to.have.length(1);

    const res = await c.req('alice', 'POST', '/v1/checkpoints/recover', { file: ckpt.path, node: 'node1' });
    expect(res.status, res.body).to.equal(201);
    const back = res.json as Process;
    expect(back).to.include({ node: 'node1', state: 'running' });
    expect(called('node1', /\/v1\/checkpoints\/stage$/)).to.have.length(1);
    expect(c.agent('node1').current(back.id)!.proc).to.include({ epoch: 0, state: 'running' });
  });

  it('refuses to recover a checkpoint file whose MAC is not the one recorded', async () => {
    const id = await runOn('node0');
    const ckpt = (await c.req('alice', 'POST', `/v1/processes/${id}/checkpoint`, { then: 'run' })).json as Checkpoint;
    const rel = [...c.agent('node0').checkpointFiles.keys()][0]!;
    c.agent('node0').checkpointFiles.get(rel)!.mac = '0'.repeat(64);
    const res = await c.req('alice', 'POST', '/v1/checkpoints/recover', { file: ckpt.path, node: 'node1' });
    expect(res.json.code, res.body).to.equal('GODWIT_ERR_BAD_CHECKPOINT');
    expect(res.json.message).to.contain('does not carry the MAC');
  });
});

describe('the fake agent', () => {
  it("answers every route of the real agent's REST API", async () => {
    // every module of the agent, so that routes moved to a module of their own are still found
    const modules = readdirSync(AGENT_SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    const sources = modules.map((f) => readFileSync(join(AGENT_SRC, f), 'utf8'));
    const real = sources.flatMap((s) => [...s.matchAll(/app\.(get|post|put|delete)\(\s*'([^']+)'/g)].map(([, m, path]) => `${m!.toUpperCase()} ${path}`));
    expect(real, 'routes found in agent/src').to.have.length.above(20);
    const fake = await startFakeAgent('node9', 'node9-token-0123456789');
    try {
      expect(real.filter((r) => !fake.routes.includes(r)), 'real routes the fake lacks').to.deep.equal([]);
    } finally {
      await fake.close();
    }
  });
});
