import type { FastifyInstance } from 'fastify';
import { GodwitError, sameToken } from '@godwit/schemas';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * the route checks a move's credential itself (move-credentials.ts) and takes no node token:
     * the agent that calls it (a move's source) holds none of this node's
     */
    moveCredential?: boolean;
  }
}

/** Bearer token check: one token per agent, known to the orchestrator only. */
export function requireToken(app: FastifyInstance, token: string): void {
  const expected = `Bearer ${token}`;
  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.config.moveCredential) return;
    if (!sameToken(req.headers.authorization ?? '', expected)) {
      const e = new GodwitError('GODWIT_ERR_UNAUTHORIZED', 'missing or wrong bearer token');
      await reply.status(401).send(e.toBody());
    }
  });
}

/** the token of an `Authorization: Bearer TOKEN` header; '' without one */
export function bearerOf(header: string | undefined): string {
  return /^Bearer (.*)$/.exec(header ?? '')?.[1] ?? '';
}
