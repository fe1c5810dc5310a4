/** Builds the orchestrator: database, node registry, output relay, migrations, and the API. */
import { setMaxListeners } from 'node:events';
import websocket from '@fastify/websocket';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyServerOptions } from 'fastify';
import { SERVER_OPTIONS, installErrorHandler } from '@godwit/schemas/http-errors';
import { listRoutes } from '@godwit/schemas/route-list';
import { fetchOver, type TlsMaterial } from '@godwit/schemas/tls';
import { type AgentClient, type AgentTimeouts, createAgentClient, DEFAULT_AGENT_TIMEOUTS } from './agent-client.js';
import { requireUsers } from './auth.js';
import { Bus } from './bus.js';
import { clusterRoutes } from './cluster.js';
import type { Config } from './config.js';
import { controlRoute, createControl } from './control.js';
import { type Ctx, DEFAULT_TUNABLES, type Tunables } from './context.js';
import { openDb } from './db/index.js';
import { createMigrations, type Migrator } from './migration/index.js';
import { agentSocketRoute, createNodeRegistry } from './nodes.js';
import { openApiRoute, registerOpenApi } from './openapi.js';
import { createOutputRelay, type OutputRelay } from './output-relay.js';
import { createOutputFollowers } from './output-followers.js';
import { createHangup } from './hangup.js';
import { followerRoutes } from './follower-routes.js';
import { createAutoFreeze } from './autofreeze.js';
import { createBalancer } from './balancer.js';
import { checkpointRoutes } from './checkpoint-routes.js';
import { checkpointFiles } from './checkpoint-files.js';
import { createCheckpointer } from './checkpoints.js';
import { createRecovery } from './recovery.js';
import { createLossWatch } from './node-loss.js';
import { processRoutes } from './processes.js';
import { installRateLimit } from './rate-limit.js';
import { limitsRoute } from './limits-route.js';
import { createEventPruner } from './event-pruning.js';
import { endStrayCopies } from './strays.js';
import { pruneStages } from './carry-stages.js';
import { whoamiRoute } from './whoami.js';

export interface AppDeps {
  /** Fastify's logger option; by default pino to stdout at info, without authorization headers */
  logger?: FastifyServerOptions['logger'];
  tunables?: Partial<Tunables>;
  agentTimeouts?: Partial<AgentTimeouts>;
  /** the configuration's TLS files, read (loadTls): the API is served over https, and agents are called with this certificate */
  tls?: TlsMaterial;
}

export interface Godwit {
  ctx: Ctx;
  relay: OutputRelay;
  migrator: Migrator;
  /** settles when the start-up reconciliation has ended (it begins when the app is ready) */
  reconciled: Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    godwit: Godwit;
  }
}

const CLOSE_WAIT_MS = 30_000;
const STDIN_BODY_LIMIT = 16 * 1024 * 1024;

export const DEFAULT_LOGGER = {
  level: 'info',
  redact: { paths: ['req.headers.authorization', 'headers.authorization'], censor: '[redacted]' },
};

export async function buildApp(config: Config, deps: AppDeps = {}) {
  const options: FastifyServerOptions = {
    logger: deps.logger ?? DEFAULT_LOGGER,
    // followers and agents hold long streams open: closing must not wait for them
    forceCloseConnections: true,
    bodyLimit: config.limits.bodyBytes,
    ...SERVER_OPTIONS,
  };
  const { tls } = deps;
  // a client certificate is asked for, not required: people call with a token alone, while a
  // node's token counts only with its node's certificate (node-cert.ts)
  const https = tls ? { https: { ca: tls.ca, cert: tls.cert, key: tls.key, requestCert: true, rejectUnauthorized: false } } : {};
  const app = Fastify({ ...options, ...https } as FastifyServerOptions).withTypeProvider<TypeBoxTypeProvider>();
  installErrorHandler(app, 'the orchestrator');
  listRoutes(app);
  // before any route: every route is limited
  await installRateLimit(app, config);
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: STDIN_BODY_LIMIT }, (_req, body, done) =>
    done(null, body),
  );

  const closing = new AbortController();
  // every open stream (output followers, event watchers) listens for the close: there may be many
  setMaxListeners(0, closing.signal);
  const bus = new Bus();
  const db = openDb(config.dataDir, (id) => bus.emit('event', id));
  const nodes = createNodeRegistry(config, db, bus, app.log);
  const timeouts = { ...DEFAULT_AGENT_TIMEOUTS, ...deps.agentTimeouts };
  const call = fetchOver(tls);
  const agents = new Map<string, AgentClient>(config.nodes.map((n) => [n.name, createAgentClient(n, timeouts, call)]));
  const ctx: Ctx = {
    config,
    db,
    log: app.log,
    bus,
    nodes,
    agent: (name) => {
      const a = agents.get(name);
      if (!a) nodes.require(name);
      return a!;
    },
    tunables: { ...DEFAULT_TUNABLES, ...deps.tunables },
    closing: closing.signal,
  };
  const followers = createOutputFollowers((id) => bus.emit('followers', id));
  const relay = createOutputRelay(ctx, followers);
  const { migrator, reconcile } = createMigrations(ctx);
  const hangup = createHangup(ctx, migrator, followers);
  const balancer = createBalancer(ctx, migrator);
  const files = checkpointFiles(config.checkpointDir);
  const checkpointer = createCheckpointer(ctx, migrator, files);
  const recovery = createRecovery(ctx, relay, files);
  const lossWatch = createLossWatch(ctx, recovery);
  const autoFreeze = createAutoFreeze(ctx, migrator);
  const control = createControl(ctx, migrator, checkpointer);
  const eventPruner = createEventPruner(ctx);
  let reconciled!: (p: Promise<void>) => void;
  const godwit: Godwit = { ctx, relay, migrator, reconciled: new Promise((r) => (reconciled = r)) };
  app.decorate('godwit', godwit);

  await registerOpenApi(app);
  await app.register(websocket, { options: { maxPayload: config.limits.frameBytes } });
  await agentSocketRoute(app, config, nodes);
  await app.register(controlRoute(config, control));
  openApiRoute(app);
  await app.register(async (scope) => {
    requireUsers(scope, config);
    await scope.register(whoamiRoute, { config });
    await scope.register(limitsRoute, { ctx });
    await scope.register(processRoutes, { ctx, migrator, relay, files, followers });
    await scope.register(followerRoutes, { ctx, migrator, followers });
    await scope.register(checkpointRoutes, { ctx, checkpointer, recovery });
    await scope.register(clusterRoutes, { ctx, migrator, balancer });
  });

  app.addHook('onReady', async () => {
    control.start();
    eventPruner.start();
    ctx.bus.on('online', (node) => {
      endStrayCopies(ctx, node).catch((err: unknown) => app.log.warn({ err, node }, `could not look for stray copies on ${node}`));
      pruneStages(ctx, node).catch((err: unknown) => app.log.warn({ err, node }, `could not have ${node} remove the files staged for ended moves`));
    });
    const done = reconcile(relay).catch((err: unknown) => {
      app.log.error({ err }, 'reconciliation at start failed');
    });
    reconciled(done);
    void done.then(() => {
      balancer.start();
      checkpointer.start();
      lossWatch.start();
      autoFreeze.start();
      hangup.start();
    });
  });
  app.addHook('preClose', async () => {
    balancer.stop();
    eventPruner.stop();
    checkpointer.stop();
    lossWatch.stop();
    autoFreeze.stop();
    hangup.stop();
    closing.abort();
    nodes.close();
  });
  app.addHook('onClose', async () => {
    const wait = (p: Promise<unknown>) => Promise.race([p, new Promise((r) => setTimeout(r, CLOSE_WAIT_MS).unref())]);
    await wait(relay.stopped());
    await migrator.idle(CLOSE_WAIT_MS);
    if (app.hasDecorator('godwit')) await wait(godwit.reconciled);
    db.close();
  });
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;
