/** /v1/nodes and /v1/events: the cluster as a whole. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import {
  BalancerSettings,
  BalancerStatus,
  BalancerUpdate,
  Closed,
  Digits,
  DrainResult,
  ErrorBody,
  Event,
  EventListQuery,
  GodwitError,
  NEXT_CURSOR_DOC,
  NEXT_CURSOR_HEADER,
  Node,
  NodeName,
  PAGE_MAX,
} from '@godwit/schemas';
import type { Balancer } from './balancer.js';
import type { Ctx } from './context.js';
import { toEvent } from './db/index.js';
import { drain, setDrained } from './drain.js';
import { followEvents } from './event-stream.js';
import type { Migrator } from './migration/migrator.js';
import { cutPage, pageFilter } from './pages.js';
import { findProcess } from './processes.js';
import { balancerSeenBy, nodesSeenBy } from './visibility.js';

const errors = { '4xx': ErrorBody, '5xx': ErrorBody };

const NodeParam = Closed({ name: NodeName });
/** what /v1/events gives without a place to start: the newest so many */
const LAST_EVENTS = 1000;

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
        summary:
          "what happened, to one's processes (an admin's: to everything, or ?owner=USER's): without limit, cursor, after or since the last 1000; " +
          `else by id from there, paged with limit, the next page's cursor in the ${NEXT_CURSOR_HEADER} header. ` +
          'follow=true: a watch stream of server-sent events (text/event-stream, each with its event id) from `after`, the Last-Event-ID header, or now; ' +
          'where events after the last sent were pruned first, a `gap` event (EventGap, no id) says which and the first the stream can give',
        querystring: EventListQuery,
        headers: Type.Object({ 'last-event-id': Type.Optional(Digits) }),
        response: { 200: Type.Array(Event, { headers: NEXT_CURSOR_DOC }), ...errors },
        produces: ['application/json', 'text/event-stream'],
      },
    },
    async (req, reply) => {
      const { db } = ctx;
      const q = req.query;
      const filter = pageFilter('events', req.user, q, true);
      if (q.process !== undefined) filter.processId = findProcess(ctx, req.user, q.process).id;
      if (q.kind !== undefined) filter.kind = q.kind;
      const resumeAt = q.after ?? (req.headers['last-event-id'] !== undefined ? Number(req.headers['last-event-id']) : undefined);
      if (q.follow) {
        // from now, unless told where to resume or from when
        const fromTime = resumeAt === undefined && filter.afterId === undefined && q.since !== undefined;
        const from = resumeAt ?? filter.afterId ?? (fromTime ? 0 : (db.q.lastEventId.get()?.id ?? 0));
        return followEvents(ctx, reply, { ...filter, limit: undefined }, from, !fromTime);
      }
      if (resumeAt !== undefined) filter.afterId = Math.max(resumeAt, filter.afterId ?? 0);
      const ascending = filter.afterId !== undefined || q.since !== undefined || q.limit !== undefined;
      const limit = ascending ? (q.limit ?? PAGE_MAX) : LAST_EVENTS;
      const rows = db.q.eventsPage({ ...filter, limit: limit + 1, newestFirst: !ascending });
      if (!ascending) return rows.slice(0, limit).reverse().map(toEvent);
      const { rows: page, next } = cutPage('events', rows, limit);
      if (next) void reply.header(NEXT_CURSOR_HEADER, next);
      return page.map(toEvent);
    },
  );
};
