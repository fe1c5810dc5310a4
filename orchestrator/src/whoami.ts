/** GET /v1/whoami: who the orchestrator takes the caller for, as a token or a node vouching says. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ErrorBody, Whoami } from '@godwit/schemas';
import { accountOf, type Config } from './config.js';

export const whoamiRoute: FastifyPluginAsyncTypebox<{ config: Readonly<Config> }> = async (app, { config }) => {
  app.get(
    '/v1/whoami',
    { schema: { summary: 'the user the caller is, whether an administrator, and the Unix account their programs run as', response: { 200: Whoami, '4xx': ErrorBody } } },
    async (req) => ({ user: req.user.name, admin: req.user.admin, account: accountOf(config, req.user.name) }),
  );
};
