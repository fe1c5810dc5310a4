/**
 * GET /v1/limits: the limits in force and what the caller uses of them; an administrator sees
 * every user's use, anyone else only their own.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ErrorBody, LimitsReport, type LimitsUse } from '@godwit/schemas';
import type { Ctx } from './context.js';

export const limitsRoute: FastifyPluginAsyncTypebox<{ ctx: Ctx }> = async (app, { ctx }) => {
  const { db, config } = ctx;
  const none = { checkpointBytes: 0, checkpoints: 0, liveProcesses: 0 };
  const useOf = (user: string, counted = db.q.useOf.get(user)): LimitsUse => ({
    ...none, ...counted, user, autoCheckpointsPaused: db.q.autoCheckpointsPausedOf.all(user),
  });
  app.get(
    '/v1/limits',
    { schema: { summary: "the limits, and the caller's use of them (an administrator's: every user's)", response: { 200: LimitsReport, '4xx': ErrorBody } } },
    async (req) => {
      if (!req.user.admin) return { limits: config.limits, use: [useOf(req.user.name)] };
      const byUser = new Map(db.q.useAll.all().map((u) => [u.user, u]));
      const users = [...new Set([...config.users.map((u) => u.name), ...byUser.keys()])].sort();
      return { limits: config.limits, use: users.map((u) => useOf(u, byUser.get(u))) };
    },
  );
};
