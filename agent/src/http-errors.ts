import type { FastifyError, FastifyInstance } from 'fastify';
import { GodwitError, sameToken } from '@godwit/schemas';

/** Every error leaves in the API's one shape; nothing else (no stack traces) reaches a client. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | GodwitError | Error, req, reply) => {
    let e: GodwitError;
    if (err instanceof GodwitError) e = err;
    else if ('validation' in err && err.validation) e = new GodwitError('GODWIT_ERR_BAD_REQUEST', `invalid request: ${err.message}`);
    else if ('statusCode' in err && typeof err.statusCode === 'number' && err.statusCode < 500) {
      e = new GodwitError(err.statusCode === 401 ? 'GODWIT_ERR_UNAUTHORIZED' : 'GODWIT_ERR_BAD_REQUEST', err.message);
    } else {
      req.log.error({ err }, 'request failed');
      e = new GodwitError('GODWIT_ERR_INTERNAL', `internal error: ${err.message}`);
    }
    void reply.status(e.statusCode).send(e.toBody());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new GodwitError('GODWIT_ERR_NOT_FOUND', `no route ${req.method} ${req.url}`);
    void reply.status(404).send(e.toBody());
  });
}

/** Bearer token check: one token per agent, known to the orchestrator. */
export function requireToken(app: FastifyInstance, token: string): void {
  const expected = `Bearer ${token}`;
  app.addHook('onRequest', async (req, reply) => {
    if (!sameToken(req.headers.authorization ?? '', expected)) {
      const e = new GodwitError('GODWIT_ERR_UNAUTHORIZED', 'missing or wrong bearer token');
      await reply.status(401).send(e.toBody());
    }
  });
}
