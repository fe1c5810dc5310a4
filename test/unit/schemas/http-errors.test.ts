import { expect } from 'chai';
import Fastify from 'fastify';
import Type from 'typebox';
import { GodwitError, toGodwitError } from '@godwit/schemas';
import { installErrorHandler } from '@godwit/schemas/http-errors';

describe('errors: the one conversion and the one HTTP answer', () => {
  it('keeps a GodwitError, names a refused request, and gives anything else the fallback code with its message', () => {
    const own = new GodwitError('GODWIT_ERR_NODE_OFFLINE', 'node1 is offline');
    expect(toGodwitError(own)).to.equal(own);
    expect(toGodwitError(Object.assign(new Error('body/argv must NOT have fewer than 1 items'), { validation: [{}] })).toBody()).to.include({
      code: 'GODWIT_ERR_BAD_REQUEST',
      message: 'invalid request: body/argv must NOT have fewer than 1 items',
    });
    expect(toGodwitError(Object.assign(new Error('no'), { statusCode: 401 })).code).to.equal('GODWIT_ERR_UNAUTHORIZED');
    expect(toGodwitError(Object.assign(new Error('gone'), { statusCode: 404 })).code).to.equal('GODWIT_ERR_NOT_FOUND');
    expect(toGodwitError(Object.assign(new Error('too big'), { statusCode: 413 })).code).to.equal('GODWIT_ERR_TOO_LARGE');
    expect(toGodwitError(Object.assign(new Error('slow down'), { statusCode: 429 })).code).to.equal('GODWIT_ERR_RATE_LIMITED');
    expect(toGodwitError(Object.assign(new Error('not json'), { statusCode: 415 })).code).to.equal('GODWIT_ERR_BAD_REQUEST');
    const cause = new Error('ECONNRESET');
    const e = toGodwitError(cause, 'GODWIT_ERR_MIGRATION_FAILED');
    expect([e.code, e.message, e.cause]).to.deep.equal(['GODWIT_ERR_MIGRATION_FAILED', 'ECONNRESET', cause]);
    expect(toGodwitError('a string').toBody()).to.include({ code: 'GODWIT_ERR_INTERNAL', message: 'a string' });
  });

  it("answers in the API's shape, keeping an unforeseen failure's words in the server's log", async () => {
    const app = Fastify({ logger: false });
    try {
      installErrorHandler(app, 'the agent of node1');
      app.get('/own', async () => {
        throw new GodwitError('GODWIT_ERR_NODE_OFFLINE', 'node1 is offline');
      });
      app.get('/bug', async () => {
        throw new Error('EACCES: /var/lib/godwit/secret');
      });
      app.post('/typed', { schema: { body: Type.Object({ n: Type.Integer() }) } }, async () => ({}));
      const own = await app.inject({ method: 'GET', url: '/own' });
      expect([own.statusCode, own.json()]).to.deep.equal([409, { statusCode: 409, code: 'GODWIT_ERR_NODE_OFFLINE', error: 'Conflict', message: 'node1 is offline' }]);
      const bug = await app.inject({ method: 'GET', url: '/bug' });
      expect(bug.statusCode).to.equal(500);
      expect(bug.json()).to.deep.equal({ statusCode: 500, code: 'GODWIT_ERR_INTERNAL', error: 'Internal Server Error', message: 'internal error in the agent of node1; its log has the details' });
      const typed = await app.inject({ method: 'POST', url: '/typed', payload: { n: 'x' } });
      expect([typed.statusCode, typed.json().code]).to.deep.equal([400, 'GODWIT_ERR_BAD_REQUEST']);
      expect(typed.json().message).to.match(/^invalid request: body\/n /);
      const none = await app.inject({ method: 'DELETE', url: '/nothing' });
      expect([none.statusCode, none.json().message]).to.deep.equal([404, 'no route DELETE /nothing']);
    } finally {
      await app.close();
    }
  });
});
