/** /v1/nodes and /v1/events: the cluster as a whole. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { ErrorBody, Event, Node } from '@godwit/schemas';
import type { Ctx } from './context.js';
import { toEvent } from './db.js';
import { findProcess } from './processes.js';

const errors = { '4xx': ErrorBody, '5xx': ErrorBody };

export const clusterRoutes: FastifyPluginAsyncTypebox<{ ctx: Ctx }> = async (app, { ctx }) => {
  app.get(
    '/v1/nodes',
    { schema: { summary: 'the nodes, their state and load', response: { 200: Type.Array(Node), ...errors } } },
    async () => ctx.nodes.list(),
  );

  app.get(
    '/v1/events',
    {
      schema: {
        summary: "what happened (the last 1000 events): to one's processes, or to everything for an admin",
        querystring: Type.Object({ process: Type.Optional(Type.String({ pattern: '^[0-9]+$' })) }),
        response: { 200: Type.Array(Event), ...errors },
      },
    },
    async (req) => {
      const { db } = ctx;
      if (req.query.process !== undefined) {
        return db.q.eventsOfProcess.all(findProcess(ctx, req.user, req.query.process).id).map(toEvent);
      }
      return (req.user.admin ? db.q.eventsAll.all() : db.q.eventsOfOwner.all(req.user.name)).map(toEvent);
    },
  );
};
