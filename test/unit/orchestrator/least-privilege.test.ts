import type { FastifyRequest } from 'fastify';
import { expect } from 'chai';
import { agentAuth } from '../../../orchestrator/src/nodes.js';
import { type Cluster, startCluster, TOKENS, waitFor } from './harness.js';

const RUN = { argv: ['/bin/prog'], cwd: '/tmp' };
type User = keyof typeof TOKENS;

const lastByteChanged = (token: string) => token.slice(0, -1) + (token.endsWith('x') ? 'y' : 'x');

describe('what a user may see and which tokens pass', function () {
  let c: Cluster;
  beforeEach(async () => {
    c = await startCluster({ nodes: 3 });
  });
  afterEach(async () => {
    await c.close();
  });

  async function run(user: User): Promise<number> {
    const res = await c.req(user, 'POST', '/v1/processes', { ...RUN, node: 'node0' });
    expect(res.status, res.body).to.equal(201);
    return res.json.id;
  }

  /** the process ids each node's load shows the user */
  async function procsSeen(user: User): Promise<number[]> {
    const res = await c.req(user, 'GET', '/v1/nodes');
    expect(res.status, res.body).to.equal(200);
    return res.json.flatMap((n: any) => (n.load?.procs ?? []).map((p: any) => p.id)).sort();
  }

  it("shows a user the nodes' totals and their own processes' loads, and an admin every process's", async () => {
    const alices = [await run('alice'), await run('alice')];
    const bobs = [await run('bob')];
    await waitFor(async () => (await procsSeen('root')).length === 3, 'the loads of all 3 processes', 5000, () => procsSeen('root'));
    expect(await procsSeen('alice')).to.deep.equal(alices.sort());
    expect(await procsSeen('bob')).to.deep.equal(bobs);
    const bobsNode0 = (await c.req('bob', 'GET', '/v1/nodes')).json.find((n: any) => n.name === 'node0');
    expect(bobsNode0.load, "node0's totals").to.include({ running: 3, cpuCapacity: 1 });
    expect(bobsNode0.load.memFreeBytes).to.be.a('number');
  });

  it("shows a user only the balancer's decisions and the events about their own processes; an admin all", async () => {
    const settings = await c.req('root', 'PUT', '/v1/balancer', { enabled: true, intervalMs: 200, minCpuSeconds: 0, holdSeconds: 0 });
    expect(settings.status, settings.body).to.equal(200);
    // alternately, so that the two moves that even out node0 (the lowest ids) are one of each
    const owners: Record<number, User> = {};
    for (const user of ['alice', 'bob', 'alice', 'bob'] as const) owners[await run(user)] = user;
    c.agent('node0').cpu.cpuSeconds = 100;
    c.agent('node0').cpu.cpuDemand = 1;
    const moved = (status: any) => status.decisions.filter((d: any) => d.outcome === 'moved');
    const all = await waitFor(async () => {
      const s = (await c.req('root', 'GET', '/v1/balancer')).json;
      return new Set(moved(s).map((d: any) => owners[d.processId])).size === 2 ? s : null;
    }, "balancer moves of both alice's and bob's processes", 10_000, async () => (await c.req('root', 'GET', '/v1/balancer')).json);

    for (const user of ['alice', 'bob'] as const) {
      const status = await c.req(user, 'GET', '/v1/balancer');
      expect(status.status, status.body).to.equal(200);
      expect(status.json.settings).to.deep.equal(all.settings);
      const decided = status.json.decisions.map((d: any) => d.processId);
      expect(decided, `${user}'s decisions`).to.not.be.empty;
      expect(decided.filter((id: number) => owners[id] !== user), `others' processes in ${user}'s decisions`).to.deep.equal([]);

      const events = (await c.req(user, 'GET', '/v1/events')).json;
      const about = new Set(events.map((e: any) => e.processId));
      expect([...about].filter((id) => owners[id as number] !== user), `events ${user} sees about others`).to.deep.equal([]);
      expect(events.some((e: any) => e.kind === 'balance'), `${user} sees the balancer's moves of their processes`).to.equal(true);
    }
    const adminSees = new Set((await c.req('root', 'GET', '/v1/events')).json.map((e: any) => e.processId));
    expect(Object.keys(owners).map(Number).every((id) => adminSees.has(id)), 'the admin sees events about every process').to.equal(true);
  });

  it('refuses a user token or a node token that differs in its last byte, and takes the right one', async () => {
    const wrong = await c.app.inject({ method: 'GET', url: '/v1/nodes', headers: { authorization: `Bearer ${lastByteChanged(TOKENS.alice)}` } });
    expect(wrong.statusCode, wrong.body).to.equal(401);
    expect(wrong.json().code).to.equal('GODWIT_ERR_UNAUTHORIZED');
    const right = await c.app.inject({ method: 'GET', url: '/v1/nodes', headers: { authorization: `Bearer ${TOKENS.alice}` } });
    expect(right.statusCode, right.body).to.equal(200);

    const nodeToken = c.agent('node0').token;
    const agentWrong = await c.app.inject({ method: 'GET', url: '/v1/agents/ws', headers: { authorization: `Bearer ${lastByteChanged(nodeToken)}` } });
    expect(agentWrong.statusCode, agentWrong.body).to.equal(401);
    // the right one is node0's own connection, open since the cluster started; the check it passed:
    const nodeOf = agentAuth(c.config);
    const asked = (authorization: string) => ({ headers: { authorization }, raw: { socket: {} } }) as unknown as FastifyRequest;
    expect(nodeOf(asked(`Bearer ${nodeToken}`))?.name).to.equal('node0');
    expect(nodeOf(asked(`Bearer ${lastByteChanged(nodeToken)}`))).to.equal(undefined);
  });
});
