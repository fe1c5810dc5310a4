import type { FastifyInstance } from 'fastify';
import { GodwitError, ORCHESTRATOR_CN, sameToken } from '@godwit/schemas';
import { certifiedPeer } from '@godwit/schemas/tls';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * the route checks a move's credential itself (move-credentials.ts) and takes no node token:
     * the agent that calls it (a move's source) holds none of this node's
     */
    moveCredential?: boolean;
  }
}

/**
 * Bearer token check: one token per agent, known to the orchestrator only. With TLS the token
 * counts only over a connection that shows the orchestrator's certificate: another node's
 * certificate (of the cluster's CA, so it got this far) with a token stolen from this node's
 * configuration or memory is refused.
 */
export function requireToken(app: FastifyInstance, { node, token, tls }: { node: string; token: string; tls: boolean }): void {
  const expected = `Bearer ${token}`;
  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.config.moveCredential) return;
    let e: GodwitError | undefined;
    if (!sameToken(req.headers.authorization ?? '', expected)) e = new GodwitError('GODWIT_ERR_UNAUTHORIZED', 'missing or wrong bearer token');
    else if (tls) {
      const peer = certifiedPeer(req.raw.socket);
      if (peer !== ORCHESTRATOR_CN) {
        e = new GodwitError('GODWIT_ERR_UNAUTHORIZED', `${node}'s token came over a connection with ${peer === undefined ? 'no certificate of the cluster' : `${peer}'s certificate`}: it counts only with the orchestrator's`, { node });
      }
    }
    if (e) await reply.status(401).send(e.toBody());
  });
}

/** the token of an `Authorization: Bearer TOKEN` header; '' without one */
export function bearerOf(header: string | undefined): string {
  return /^Bearer (.*)$/.exec(header ?? '')?.[1] ?? '';
}
