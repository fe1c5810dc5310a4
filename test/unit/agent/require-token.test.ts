import { expect } from 'chai';
import Fastify from 'fastify';
import { installErrorHandler } from '@godwit/schemas/http-errors';
import { requireToken } from '../../../agent/src/require-token.js';

describe("agent's token check", () => {
  const token = 'node1-token-0123456789';

  it('refuses a token that differs in its last byte, and takes the right one', async () => {
    const app = Fastify({ logger: false });
    try {
      installErrorHandler(app, 'the agent of node1');
      requireToken(app, token);
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
});
