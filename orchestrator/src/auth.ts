/** Bearer tokens of people: each request knows whose it is. */
import bearerAuth from '@fastify/bearer-auth';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GodwitError, holderOf } from '@godwit/schemas';
import type { Config } from './config.js';

export interface User {
  name: string;
  admin: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    user: User;
  }
}

/** Adds the token check to the routes registered in `scope` (and only there). */
export async function requireUsers(scope: FastifyInstance, config: Config): Promise<void> {
  scope.decorateRequest('user', null as unknown as User);
  await scope.register(bearerAuth, {
    keys: [],
    verifyErrorLogLevel: 'info',
    auth: (key: string, req: FastifyRequest) => {
      const user = holderOf(config.users, key);
      if (!user) return false;
      req.user = { name: user.name, admin: user.admin === true };
      return true;
    },
    errorResponse: (err: Error) =>
      new GodwitError(
        'GODWIT_ERR_UNAUTHORIZED',
        `${err.message}: send "Authorization: Bearer <token>" with a token from the orchestrator's users`,
      ).toBody(),
  });
}
