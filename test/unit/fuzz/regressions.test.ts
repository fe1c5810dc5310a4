/**
 * What the fuzz suite found, kept: each failure's request sent again as it was, and its seed
 * replayed as far as the run that failed.
 */
import { expect } from 'chai';
import { judge, send } from './answers.js';
import { type FuzzAgent, AGENT_TOKEN, agentTarget, startFuzzAgent } from './agent-target.js';
import { orchestratorTarget } from './orchestrator-target.js';
import { fuzz } from './run-fuzz.js';
import type { FuzzRequest } from './requests.js';
import { type Cluster, startCluster, TOKENS } from '../orchestrator/harness.js';

function request(method: string, url: string, headers: Record<string, string>, payload?: string | Buffer): FuzzRequest {
  return { method, url, headers, ...(payload !== undefined ? { payload } : {}), route: 'regression' };
}

describe('what the fuzz suite found', function () {
  this.timeout(120_000);

  describe('on the orchestrator', () => {
    let c: Cluster;
    before(async () => {
      c = await startCluster({ nodes: 3, nodeTimeoutMs: 60_000 });
    });
    after(async () => c?.close());

    it('answers a URL that does not decode (%zz) with a 400 in the one shape, not Fastify\'s own (seed 1352456999)', async () => {
      const req = request('GET', '/v1/processes/%zz/output', { authorization: `Bearer ${TOKENS.alice}` });
      const res = await send(c.app, req);
      expect(judge(req, res)).to.deep.equal({ code: 'GODWIT_ERR_BAD_REQUEST' });
      expect(res.statusCode).to.equal(400);
    });

    it('refuses a property the API does not know with a 400 naming it, and starts nothing', async () => {
      const res = await c.req('alice', 'POST', '/v1/processes', { argv: ['prog'], cwd: '/tmp', nodee: 'node1' });
      expect(res.status, res.body).to.equal(400);
      expect(res.json.code).to.equal('GODWIT_ERR_BAD_REQUEST');
      expect(res.json.message).to.match(/additional properties/i);
      expect(c.app.godwit.ctx.db.raw.prepare('SELECT count(*) AS n FROM processes').get()).to.deep.equal({ n: 0 });
      const query = await c.req('alice', 'GET', '/v1/processes?al=true');
      expect(query.status, query.body).to.equal(400);
    });

    it('replays seed 1352456999 to the run that failed', async () => {
      await fuzz(await orchestratorTarget(c), 1352456999, 2);
    });
  });

  describe('on an agent', () => {
    let a: FuzzAgent;
    before(async () => {
      a = await startFuzzAgent();
    });
    after(async () => a?.close());

    it('refuses to append kept output after a layout it does not hold with a 409, deleting nothing (seed 3)', async () => {
      const first = request('POST', '/v1/kept/2?logBase=0&logSize=0&outOffset=0&limit=1048576', { authorization: AGENT_TOKEN, 'content-type': 'application/octet-stream' }, Buffer.from('o\x01\x00\x00\x00x'));
      const ok = await send(a.agent.app, first);
      expect(ok.statusCode, ok.body).to.equal(200);
      const req = request('POST', '/v1/kept/2?logBase=0&logSize=2022445392&outOffset=12&limit=319087403', { authorization: AGENT_TOKEN, 'content-type': 'application/octet-stream' }, Buffer.from([161]));
      const res = await send(a.agent.app, req);
      expect(judge(req, res)).to.deep.equal({ code: 'GODWIT_ERR_OUTPUT_MISMATCH' });
      const read = await send(a.agent.app, request('GET', '/v1/kept/2?from=0&end=6&logBase=0&logSize=6', { authorization: AGENT_TOKEN }));
      expect(read.statusCode, read.body).to.equal(200);
      expect(read.json().lines.map((l: { data: string }) => Buffer.from(l.data, 'base64').toString())).to.deep.equal(['x']);
    });

    it('refuses images or input sent as text or JSON with a 400 (seed 3)', async () => {
      // images are taken only with the move's credential: asked for first, as the orchestrator does
      const asked = await send(a.agent.app, request('POST', '/v1/images/2/expect', { authorization: AGENT_TOKEN }));
      expect(asked.statusCode, asked.body).to.equal(200);
      const moveAuth = `Bearer ${(asked.json() as { credential: string }).credential}`;
      for (const [url, type, body] of [['/v1/images/2', 'text/plain', 'e}'], ['/v1/procs/1/stdin', 'application/json', '{}']] as const) {
        const auth = url.includes('images') ? moveAuth : AGENT_TOKEN;
        const req = request(url.includes('images') ? 'PUT' : 'POST', url, { authorization: auth, 'content-type': type }, body);
        const res = await send(a.agent.app, req);
        // no process 1 runs here: its input is refused for that first
        expect(judge(req, res).code, res.body).to.be.oneOf(['GODWIT_ERR_BAD_REQUEST', 'GODWIT_ERR_PROCESS_NOT_RUNNING']);
      }
    });

    it('replays seed 3 to the run that failed', async () => {
      await fuzz(agentTarget(a), 3, 34);
    });
  });
});
