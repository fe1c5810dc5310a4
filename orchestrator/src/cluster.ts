/** /v1/nodes and /v1/events: the cluster as a whole. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import { BalancerSettings, BalancerStatus, BalancerUpdate, Closed, Digits, DrainResult, ErrorBody, Event, GodwitError, Node, NodeName } from '@godwit/schemas';
import type { Balancer } from './balancer.js';
import type { Ctx } from './context.js';
import { toEvent } from './db/index.js';
import { drain, setDrained } from './drain.js';
import type { Migrator } from './migration/migrator.js';
import { findProcess } from './processes.js';
import { balancerSeenBy, nodesSeenBy } from './visibility.js';

const errors = { '4xx': ErrorBody, '5xx': ErrorBody };

const NodeParam = Closed({ name: NodeName });

/** a preHandler: only an administrator may `what`; the others get GODWIT_ERR_FORBIDDEN */
function adminOnly(what: string) {
  return async (req: FastifyRequest): Promise<void> => {
    if (!req.user.admin) throw new GodwitError('GODWIT_ERR_FORBIDDEN', `only an administrator may ${what}`);
  };
}

export const clusterRoutes: FastifyPluginAsyncTypebox<{ ctx: Ctx; migrator: Migrator; balancer: Balancer }> = async (app, { ctx, migrator, balancer }) => {
  app.get(
    '/v1/balancer',
    {
      schema: {
        summary: "the automatic load balancer's settings and its latest decisions, newest first (about one's own processes, or every process for an admin)",
        response: { 200: BalancerStatus, ...errors },
      },
    },
    async (req) => balancerSeenBy(ctx.db, req.user, balancer.status()),
  );

  app.put(
    '/v1/balancer',
    {
      schema: {
        summary: 'turn the balancer on or off, or change its settings (MOSIX mosctl); admin only',
        body: BalancerUpdate,
        response: { 200: BalancerSettings, ...errors },
      },
      preHandler: adminOnly('change the balancer'),
    },
    async (req) => balancer.update(req.body, req.user.name),
  );

  app.post(
    '/v1/nodes/:name/drain',
    {
      schema: {
        summary: 'MOSIX expel: nothing new starts or moves to the node, and its processes move elsewhere (frozen where none fits); admin only',
        params: NodeParam,
        response: { 200: DrainResult, ...errors },
      },
      preHandler: adminOnly('drain a node'),
    },
    async (req) => drain(ctx, migrator, req.params.name, req.user.name),
  );

  app.post(
    '/v1/nodes/:name/undrain',
    { schema: { summary: 'let programs start and move to the node again; admin only', params: NodeParam, response: { 200: Node, ...errors } }, preHandler: adminOnly('undrain a node') },
    async (req) => {
      setDrained(ctx, req.params.name, false, req.user.name);
      return ctx.nodes.list().find((n) => n.name === req.params.name)!;
    },
  );

  app.get(
    '/v1/nodes',
    {
      schema: {
        summary: "the nodes, their state and load (with the loads of one's own processes, or of every process for an admin)",
        response: { 200: Type.Array(Node), ...errors },
      },
    },
    async (req) => nodesSeenBy(ctx.db, req.user, ctx.nodes.list()),
  );

  app.get(
    '/v1/events',
    {
      schema: {
        summary: "what happened (the last 1000 events): to one's processes, or to everything for an admin",
        querystring: Closed({ process: Type.Optional(Digits) }),
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
