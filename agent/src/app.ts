import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { type AgentConfig, DEFAULT_LIMITS } from '@godwit/schemas';
import { SERVER_OPTIONS, installErrorHandler } from '@godwit/schemas/http-errors';
import { listRoutes } from '@godwit/schemas/route-list';
import { clientAgent, fetchOver, type TlsMaterial } from '@godwit/schemas/tls';
import { createCheckpoints } from './checkpoints.js';
import { readClusterKey } from './cluster-key.js';
import { createControl } from './control.js';
import { controlRoutes } from './control-routes.js';
import { createCriu, type Criu } from './criu.js';
import { createDeputies } from './deputies.js';
import { requireToken } from './require-token.js';
import { createImageStore } from './images.js';
import { createMoveCredentials } from './move-credentials.js';
import { createPortPicker } from './page-server-ports.js';
import { mountRunDir } from './run-dir.js';
import { createKeptOutput } from './kept-output.js';
import { keptRoutes } from './kept-routes.js';
import { createLifecycle } from './lifecycle.js';
import { createOrchestratorClient } from './orchestrator-client.js';
import { createProcStore, type ProcStore } from './procs.js';
import { agentRoutes } from './routes.js';
import { carryPlanOf } from './carry-plan.js';
import { resolveAccount } from './accounts.js';
import { createCarryAhead } from './carry-ahead.js';
import { carryConflicts } from './carried-files.js';
import { requireCpuRecordFits } from './cpu-check.js';
import { createStdinWriter } from './stdin.js';

/** how often the control directories are matched with what runs here (launches and restores start their watch at once) */
const CONTROL_SYNC_MS = 1000;

export interface Agent {
  app: FastifyInstance;
  procs: ProcStore;
  criu: Criu;
}

/** `tls`: the configuration's TLS files, read (loadTls); without it the API is plain http */
export async function buildAgent(config: Readonly<AgentConfig>, opts: { logger?: boolean | object; tls?: TlsMaterial } = {}): Promise<Agent> {
  // first: an agent that cannot sign and check checkpoints does not start
  const clusterKey = readClusterKey(config.clusterKeyFile);
  const { tls } = opts;
  // mutual TLS: only the orchestrator and other agents, with certificates from the cluster's CA,
  // get as far as a request (a node's users have its local socket, local-socket.ts)
  const https = tls ? { https: { ca: tls.ca, cert: tls.cert, key: tls.key, requestCert: true, rejectUnauthorized: true } } : {};
  const app = Fastify({
    logger: opts.logger ?? { level: 'info', redact: ['req.headers.authorization'] },
    logController: new LogController({ disableRequestLogging: true }),
    // the orchestrator follows output over long-lived requests: closing must not wait for them
    forceCloseConnections: true,
    // images and kept output have their own bounds, set on their routes
    bodyLimit: config.limits?.bodyBytes ?? DEFAULT_LIMITS.bodyBytes,
    ...SERVER_OPTIONS,
    ...https,
  } as FastifyServerOptions).withTypeProvider<TypeBoxTypeProvider>();
  installErrorHandler(app, `the agent of ${config.node}`);
  listRoutes(app);
  if (config.encryptAtRest === false) {
    app.log.warn(`encryptAtRest is false: checkpoint files (in ${config.checkpointDir}) and frozen programs' images (in ${config.dataDir}/images) are written in clear, still authenticated; anyone who can read those disks reads the programs' memory`);
  }
  requireToken(app, { node: config.node, token: config.token, tls: tls !== undefined });
  const criu = createCriu(config.criuPath, config.tls || undefined);
  const procs = createProcStore(config.dataDir);
  if (config.runDir) await mountRunDir(config.runDir);
  const ports = createPortPicker(config.pageServerPorts);
  const images = createImageStore(config.dataDir, criu, clusterKey, config.runDir, ports, tls ? clientAgent(tls) : undefined);
  const writeStdin = createStdinWriter();
  const orchestrator = createOrchestratorClient(config.orchestrator.url, config.token, fetchOver(tls));
  const control = config.controlDir
    ? createControl({ root: config.controlDir, node: config.node, procs, send: orchestrator.control, log: app.log })
    : undefined;
  const deputies = createDeputies({ config, orchestrator, log: app.log });
  app.addHook('onClose', async () => deputies.close());
  const lifecycle = createLifecycle({ config, criu, procs, images, ports, writeStdin, control, deputies, log: app.log });
  const checkpoints = createCheckpoints({ config, clusterKey, procs, images, lifecycle, log: app.log });
  await app.register(agentRoutes, { node: config.node, host: config.listen.host, procs, images, credentials: createMoveCredentials(), lifecycle, checkpoints, writeStdin, control,
    carryPlan: (id, rootPid, max) => carryPlanOf(config, id, rootPid, max), carryConflicts: async ({ files, account }) => carryConflicts(config.nodeLocal, files, config.node, account === undefined ? undefined : (await resolveAccount(account, config.node)).uid),
    carryAhead: createCarryAhead({ config, key: clusterKey, procs, ...(tls ? { peers: clientAgent(tls) } : {}) }),
    dataDir: config.dataDir,
    cpuCheck: (req) => requireCpuRecordFits({ criu, node: config.node, dataDir: config.dataDir, mask: config.cpuFeatureMask ?? [] }, req) });
  await app.register(keptRoutes, { kept: createKeptOutput(config.dataDir, config.node) });
  if (control) {
    await app.register(controlRoutes, { control });
    control.sync();
    const timer = setInterval(() => {
      try {
        control.sync();
      } catch (err) {
        app.log.warn({ err }, 'could not match the control directories with the programs here');
      }
    }, CONTROL_SYNC_MS);
    app.addHook('onClose', async () => {
      clearInterval(timer);
      control.close();
    });
  }
  return { app, procs, criu };
}
