/** /v1/processes: run, list, look at, move, feed and signal the programs of the cluster. */
import { once } from 'node:events';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import {
  type MigrationProgress,
  ErrorBody,
  GodwitError,
  IdParam,
  Closed,
  ContinueRequest,
  Digits,
  MigrateRequest,
  MigrationListQuery,
  NEXT_CURSOR_DOC,
  NEXT_CURSOR_HEADER,
  ProcessListQuery,
  WhyQuery,
  WhyResult,
  Migration,
  Process,
  RunRequest,
  SignalQueued,
  SignalRequest,
  refusedEnv,
} from '@godwit/schemas';
import { takeAddress, wantsAddress } from './address-pool.js';
import type { User } from './auth.js';
import type { CheckpointFiles } from './checkpoint-files.js';
import { accountOf } from './config.js';
import type { Ctx } from './context.js';
import { type ProcessRow, toMigration, toProcess } from './db/index.js';
import type { Migrator } from './migration/migrator.js';
import type { OutputFollowers } from './output-followers.js';
import type { OutputRelay } from './output-relay.js';
import { requireProcessRoom } from './limits.js';
import { cutPage, pageFilter } from './pages.js';
import { createPageCache, pageOf, sendPage } from './page-cache.js';
import { place } from './placement.js';
import { launchFailed, processLaunched } from './process-life.js';
import { cpuEndOf } from './cpu-compat.js';
import { queueSignal } from './queued-signals.js';
import { visible } from './visibility.js';
import { whyNotMovable } from './why.js';

export interface ProcessRouteDeps {
  ctx: Ctx;
  migrator: Migrator;
  relay: OutputRelay;
  files: CheckpointFiles;
  followers: OutputFollowers;
}

const errors = { '4xx': ErrorBody, '5xx': ErrorBody };
const STDIN_WAIT_MS = 120_000;

/** `id` is godwit's id, or else the home PID of one of the user's processes */
export function findProcess(ctx: Ctx, user: User, id: string): ProcessRow {
  const n = Number(id);
  const row = ctx.db.q.processById.get(n);
  if (row && visible(row, user)) return row;
  const byPid = ctx.db.q.processByOrigPid.get({ pid: n, owner: user.name });
  if (byPid) return byPid;
  throw new GodwitError('GODWIT_ERR_PROCESS_NOT_FOUND', `no process ${id} of ${user.name}'s (as godwit id or home PID)`);
}

export const processRoutes: FastifyPluginAsyncTypebox<ProcessRouteDeps> = async (app, { ctx, migrator, relay, files, followers }) => {
  const { db, nodes } = ctx;
  const pages = createPageCache(db.changes);

  /** each running process's resident memory, from the last report of the node it runs on */
  function residentMemory(): (r: ProcessRow) => number | null {
    const rss = new Map<number, { epoch: number; rssBytes: number }>();
    for (const n of nodes.list()) for (const l of n.load?.procs ?? []) rss.set(l.id, l);
    return (r) => {
      const l = r.state === 'running' ? rss.get(r.id) : undefined;
      return l?.epoch === r.epoch ? l.rssBytes : null;
    };
  }

  app.post(
    '/v1/processes',
    { schema: { summary: 'run a program', body: RunRequest, response: { 201: Process, ...errors } } },
    async (req, reply) => {
      const b = req.body;
      const refused = refusedEnv(b.env ?? {});
      if (refused.length) throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `the environment may not set ${refused.join(', ')}`, { refused });
      if (b.node) nodes.require(b.node);
      const home = nodes.require(b.homeNode ?? b.node ?? nodes.names[0]!).name;
      const online = nodes.list().filter((n) => nodes.isOnline(n.name));
      const cpu = { program: `a program of home node ${home}`, from: cpuEndOf(nodes.list(), home) };
      const start = nodes.require(place(online, { home, ...(b.node ? { node: b.node } : {}), best: b.best ?? false, ...(b.memMiB ? { memMiB: b.memMiB } : {}), cpu }));
      const policy = files.policyColumns(req.user.name, b.checkpoint);
      // checked and inserted with no wait between: two starts at once cannot both pass the limit
      requireProcessRoom(req.user.name, db.q.liveProcessesOf.get(req.user.name)!.n, ctx.config.limits.liveProcessesPerUser);
      const ownAddress = wantsAddress(ctx.config, b.ip);
      // one transaction: no address free, no process recorded
      const { id, net } = db.tx(() => {
        const id = Number(
          db.q.insertProcess.run({
            owner: req.user.name,
            argv: JSON.stringify(b.argv),
            cwd: b.cwd,
            home_node: home,
            node: start.name,
            created_at: Date.now(),
            locked: b.locked === true ? 1 : 0,
            ...policy,
            recover_on_failure: b.recoverOnFailure === true ? 1 : 0,
          }).lastInsertRowid,
        );
        return { id, net: ownAddress ? takeAddress(db, ctx.config, id) : undefined };
      });
      if (b.attached) db.q.setAttached.run({ id, attached: 1 });
      try {
        const proc = await ctx.agent(start.name).launch({
          id,
          account: accountOf(ctx.config, req.user.name),
          argv: b.argv,
          cwd: b.cwd,
          env: b.env ?? {},
          control: { nmigs: 0, locked: b.locked === true, needMemBytes: 0, checkpoints: 0 },
          ...(net ? { net } : {}),
        });
        processLaunched(db, proc.pid, { id, node: start.name, kind: 'started', message: `process ${id} (${b.argv[0]}) started on ${start.name} as PID ${proc.pid}` });
      } catch (err) {
        const e = err instanceof GodwitError ? err : new GodwitError('GODWIT_ERR_LAUNCH_FAILED', String((err as Error).message));
        launchFailed(db, e.message, { id, node: start.name, kind: 'launch-failed', message: `process ${id} could not start on ${start.name}: ${e.message}` });
        throw new GodwitError(e.code, e.message, { ...e.details, processId: id });
      }
      relay.start(id);
      return reply.code(201).send(toProcess(db.q.processById.get(id)!));
    },
  );

  app.get(
    '/v1/processes',
    {
      schema: {
        summary:
          "list one's processes (an admin's ?all=true lists everyone's, ?owner=USER one user's), by id; filtered by state, node and since (created then or later); " +
          `paged with limit, the next page's cursor in the ${NEXT_CURSOR_HEADER} header`,
        querystring: ProcessListQuery,
        response: { 200: Type.Array(Process, { headers: NEXT_CURSOR_DOC }), ...errors },
      },
    },
    async (req, reply) => {
      const filter = pageFilter('processes', req.user, req.query, req.query.all === true);
      const page = pages.get(`processes ${JSON.stringify(filter)}`, () => {
        const { rows, next } = cutPage('processes', db.q.processesPage(filter), req.query.limit);
        const mem = residentMemory();
        return pageOf(reply, rows.map((r) => ({ ...toProcess(r), memBytes: mem(r) })), next);
      });
      return sendPage(reply, page);
    },
  );

  app.get(
    '/v1/migrations',
    {
      schema: {
        summary:
          "the migrations of one's processes (an admin's: everyone's, or ?owner=USER's), by id; filtered by state, node (from or to) and since (started then or later); " +
          `paged with limit, the next page's cursor in the ${NEXT_CURSOR_HEADER} header`,
        querystring: MigrationListQuery,
        response: { 200: Type.Array(Migration, { headers: NEXT_CURSOR_DOC }), ...errors },
      },
    },
    async (req, reply) => {
      const filter = pageFilter('migrations', req.user, req.query, true);
      const page = pages.get(`migrations ${JSON.stringify(filter)}`, () => {
        const { rows, next } = cutPage('migrations', db.q.migrationsPage(filter), req.query.limit);
        return pageOf(reply, rows.map(toMigration), next);
      });
      return sendPage(reply, page);
    },
  );

  app.get(
    '/v1/processes/:id',
    { schema: { summary: 'one process', params: IdParam, response: { 200: Process, ...errors } } },
    async (req) => {
      const row = findProcess(ctx, req.user, req.params.id);
      return { ...toProcess(row), memBytes: residentMemory()(row) };
    },
  );

  app.post(
    '/v1/processes/:id/migrate',
    {
      schema: {
        summary: 'move a process to another node; answers when the move has ended',
        params: IdParam,
        body: MigrateRequest,
        response: { 200: Migration, ...errors },
      },
    },
    async (req) => migrator.migrate(findProcess(ctx, req.user, req.params.id), req.body.to, req.body.strategy, { carryMaxBytes: req.body.carryMaxBytes, compress: req.body.compress }),
  );

  app.post(
    '/v1/processes/:id/freeze',
    {
      schema: {
        summary: 'dump a process to disk and stop it (MOSIX freeze): it holds no CPU or memory until it continues',
        params: IdParam,
        response: { 200: Migration, ...errors },
      },
    },
    async (req) => migrator.freeze(findProcess(ctx, req.user, req.params.id), 'M'),
  );

  app.post(
    '/v1/processes/:id/continue',
    {
      schema: {
        summary: 'bring a frozen process back, on its home node or on `to`',
        params: IdParam,
        body: ContinueRequest,
        response: { 200: Migration, ...errors },
      },
    },
    async (req) => migrator.thaw(findProcess(ctx, req.user, req.params.id), req.body.to),
  );

  app.get(
    '/v1/processes/:id/why',
    {
      schema: {
        summary: 'every reason the process cannot move now, in words (found without stopping it); with `to`, a dry run of that move, its files included',
        params: IdParam,
        querystring: WhyQuery,
        response: { 200: WhyResult, ...errors },
      },
    },
    async (req) => whyNotMovable(ctx, migrator, findProcess(ctx, req.user, req.params.id), req.query),
  );

  app.get(
    '/v1/processes/:id/progress',
    {
      websocket: true,
      schema: {
        summary: "a websocket: one MigrationProgress message (JSON) per step of the process's migrations, and as its memory arrives",
        params: IdParam,
      },
      // an unknown or foreign process is refused before the upgrade, in the API's error shape
      preValidation: async (req) => void findProcess(ctx, req.user, req.params.id),
    },
    (socket, req) => {
      const id = findProcess(ctx, req.user, req.params.id).id;
      const send = (p: MigrationProgress) => {
        if (p.processId === id) socket.send(JSON.stringify(p));
      };
      ctx.bus.on('progress', send);
      socket.on('close', () => ctx.bus.off('progress', send));
    },
  );

  app.get(
    '/v1/processes/:id/migrations',
    { schema: { summary: "a process's migrations", params: IdParam, response: { 200: Type.Array(Migration), ...errors } } },
    async (req) => db.q.migrationsOf.all(findProcess(ctx, req.user, req.params.id).id).map(toMigration),
  );

  app.get(
    '/v1/migrations/:id',
    {
      schema: {
        summary: 'one migration',
        params: Closed({ id: Digits }),
        response: { 200: Migration, ...errors },
      },
    },
    async (req) => {
      const m = db.q.migrationById.get(Number(req.params.id));
      const p = m ? db.q.processById.get(m.process_id) : undefined;
      if (!m || !p || !visible(p, req.user)) {
        throw new GodwitError('GODWIT_ERR_NOT_FOUND', `no migration ${req.params.id} of ${req.user.name}'s processes`);
      }
      return toMigration(m);
    },
  );

  app.get(
    '/v1/processes/:id/output',
    {
      schema: {
        summary:
          "a process's output as NDJSON OutputLine objects, from byte `offset`; `follow` waits for more until it exits; " +
          '`attach` (with follow) makes this stream its foreground: the program waits for it to write its output, and an attached program gets SIGHUP when the last such stream has been gone a few seconds',
        params: IdParam,
        querystring: Closed({
          offset: Type.Integer({ minimum: 0, default: 0 }),
          follow: Type.Boolean({ default: false }),
          attach: Type.Boolean({ default: false }),
        }),
        produces: ['application/x-ndjson'],
      },
    },
    async (req, reply) => {
      const row = findProcess(ctx, req.user, req.params.id);
      // written by hand so the headers go out at once, before any output exists
      reply.hijack();
      const res = reply.raw;
      const gone = new AbortController();
      res.on('close', () => gone.abort());
      const signal = AbortSignal.any([gone.signal, ctx.closing]);
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
      res.flushHeaders();
      const follower = followers.join(row.id, { attach: req.query.follow && req.query.attach, offset: req.query.offset });
      try {
        for await (const l of relay.read(row.id, req.query.offset, req.query.follow, signal)) {
          if (!res.write(`${JSON.stringify(l)}\n`)) await once(res, 'drain', { signal });
        }
      } catch (err) {
        if (!signal.aborted) req.log.error({ err }, `output of process ${row.id} failed`);
      } finally {
        follower.leave();
        res.end();
      }
    },
  );

  /** the process once a migration under way has ended: stdin and signals go where it is then */
  async function settled(user: User, id: string): Promise<ProcessRow> {
    const row = findProcess(ctx, user, id);
    if (row.state !== 'migrating') return row;
    await migrator.settled(row.id, STDIN_WAIT_MS, ctx.closing);
    return db.q.processById.get(row.id)!;
  }

  async function whereRunning(user: User, id: string): Promise<ProcessRow> {
    return running(await settled(user, id));
  }

  function running(row: ProcessRow): ProcessRow {
    if (row.state !== 'running') {
      throw new GodwitError('GODWIT_ERR_PROCESS_NOT_RUNNING', `process ${row.id} is not running (it is ${row.state})`);
    }
    return row;
  }

  app.post(
    '/v1/processes/:id/stdin',
    {
      schema: {
        summary: "write the raw body to the program's stdin; ?eof=true closes it afterwards",
        params: IdParam,
        querystring: Closed({ eof: Type.Boolean({ default: false }) }),
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      const row = await whereRunning(req.user, req.params.id);
      const body = req.body as Buffer | string | undefined;
      const data = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(String(body));
      await ctx.agent(row.node).stdin(row.id, data, req.query.eof);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/processes/:id/signal',
    {
      schema: {
        summary: 'send a signal to the program; to a frozen one, SIGKILL ends it and any other waits until it continues (202)',
        params: IdParam,
        body: SignalRequest,
        response: { 204: Type.Null(), 202: SignalQueued, ...errors },
      },
    },
    async (req, reply) => {
      const now = await settled(req.user, req.params.id);
      if (now.state === 'frozen') {
        if (req.body.signal !== 'SIGKILL') return reply.code(202).send(queueSignal(ctx, now, req.body.signal, req.user.name));
        // nothing runs to receive it: its image is dropped, as the kernel ends a stopped program
        migrator.endFrozen(now, req.body.signal);
        return reply.code(204).send(null);
      }
      const row = running(now);
      await ctx.agent(row.node).signal(row.id, req.body);
      db.event({ processId: row.id, node: row.node, kind: 'signal', message: `${req.user.name} sent ${req.body.signal} to process ${row.id}` });
      return reply.code(204).send(null);
    },
  );
};
