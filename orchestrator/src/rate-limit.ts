/**
 * API rate limits (@fastify/rate-limit): limits.requestsPerMinute per caller, a user (by token,
 * or by the account a node vouches for) or a node for its own calls; a caller the API does not
 * know is counted by address. A request past it gets 429 GODWIT_ERR_RATE_LIMITED in the one error shape.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GodwitError, holderOf } from '@godwit/schemas';
import { callerOf } from './auth.js';
import type { Config } from './config.js';

/** who a request counts against */
export function callerKey(config: Readonly<Config>, req: Pick<FastifyRequest, 'headers' | 'ip'>): string {
  try {
    return `user:${callerOf(config, req.headers).name}`;
  } catch (err) {
    if (!(err instanceof GodwitError)) throw err;
    const auth = req.headers.authorization;
    const node = typeof auth === 'string' ? holderOf(config.nodes, auth.replace(/^Bearer /, '').trim()) : undefined;
    return node ? `node:${node.name}` : `address:${req.ip}`;
  }
}

export async function installRateLimit(app: FastifyInstance, config: Readonly<Config>): Promise<void> {
  await app.register(rateLimit, {
    max: config.limits.requestsPerMinute,
    timeWindow: 60_000,
    keyGenerator: (req) => callerKey(config, req),
    errorResponseBuilder: (req, context) =>
      new GodwitError(
        'GODWIT_ERR_RATE_LIMITED',
        `too many requests: at most ${context.max} a minute per caller; try again in ${Math.ceil(context.ttl / 1000)} s`,
        { max: context.max, retryAfterMs: context.ttl, caller: callerKey(config, req) },
      ),
  });
}
