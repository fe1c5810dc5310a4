import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import Fastify, { type FastifyServerOptions } from 'fastify';
import { installErrorHandler } from '@godwit/schemas/http-errors';
import { type ClientTls, fetchOver } from '@godwit/schemas/tls';
import { makeClusterCerts } from '../../../cli/src/cluster/certs.js';
import { requireToken } from '../../../agent/src/require-token.js';

describe("agent's token check", () => {
  const token = 'node1-token-0123456789';

  it('refuses a token that differs in its last byte, and takes the right one', async () => {
    const app = Fastify({ logger: false });
    try {
      installErrorHandler(app, 'the agent of node1');
      requireToken(app, { node: 'node1', token, tls: false });
      app.get('/v1/procs', async () => []);
      const ask = (t: string) => app.inject({ method: 'GET', url: '/v1/procs', headers: { authorization: `Bearer ${t}` } });
      const wrong = await ask(`${token.slice(0, -1)}8`);
      expect(wrong.statusCode, wrong.body).to.equal(401);
      expect(wrong.json().code).to.equal('GODWIT_ERR_UNAUTHORIZED');
      const none = await app.inject({ method: 'GET', url: '/v1/procs' });
      expect(none.statusCode, none.body).to.equal(401);
      const right = await ask(token);
      expect(right.statusCode, right.body).to.equal(200);
    } finally {
      await app.close();
    }
  });

  it("over TLS takes its node's token only with the orchestrator's certificate: node0's certificate with node1's token is refused", async function () {
    this.timeout(30_000);
    const dir = mkdtempSync(join(tmpdir(), 'godwit-token-cert-'));
    const certs = await makeClusterCerts(join(dir, 'tls'), { orchestratorAddress: '127.0.0.1', nodes: [{ name: 'node0', address: '127.0.0.1' }, { name: 'node1', address: '127.0.0.1' }] });
    const read = (f: { certFile: string; keyFile: string }): ClientTls => ({ ca: readFileSync(certs.caFile), cert: readFileSync(f.certFile), key: readFileSync(f.keyFile) });
    const node1 = read(certs.nodes.get('node1')!);
    // the agent of node1 as buildAgent starts it: mutual TLS, its own certificate
    const app = Fastify({ logger: false, https: { ...node1, requestCert: true, rejectUnauthorized: true } } as FastifyServerOptions);
    try {
      installErrorHandler(app, 'the agent of node1');
      requireToken(app, { node: 'node1', token, tls: true });
      app.get('/v1/procs', async () => []);
      const url = new URL('/v1/procs', await app.listen({ host: '127.0.0.1', port: 0 }));
      const ask = async (tls: ClientTls) => {
        const res = await fetchOver(tls)(url, { headers: { authorization: `Bearer ${token}` } });
        return { status: res.status, body: await res.text() };
      };
      const stolen = await ask(read(certs.nodes.get('node0')!));
      expect(stolen.status, `node0's certificate with node1's token: ${stolen.body}`).to.equal(401);
      expect(JSON.parse(stolen.body)).to.include({ code: 'GODWIT_ERR_UNAUTHORIZED' });
      expect(JSON.parse(stolen.body).message).to.match(/node1's token came over a connection with node0's certificate/);
      const own = await ask(node1);
      expect(own.status, `node1's own certificate: ${own.body}`).to.equal(401);
      const orchestrator = await ask(read(certs.orchestrator));
      expect(orchestrator.status, `the orchestrator's certificate: ${orchestrator.body}`).to.equal(200);
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
