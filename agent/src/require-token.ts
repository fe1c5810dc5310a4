import type { FastifyInstance } from 'fastify';
import { GodwitError, sameToken } from '@godwit/schemas';

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
