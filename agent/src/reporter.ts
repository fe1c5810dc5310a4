/**
 * Tells the orchestrator this node is here, what it can do and what runs on it (hello), then
 * its load every second, over a websocket that reconnects by itself.
 */
import WebSocket from 'ws';
import { type AgentConfig, type AgentHello, type AgentLoadMessage, type AgentProc, DEFAULT_LIMITS, type NodeFeatures, type NodeLoad, type NodePlatform } from '@godwit/schemas';
import type { FastifyBaseLogger } from 'fastify';
import type { TlsMaterial } from '@godwit/schemas/tls';

const REPORT_MS = 1000;
/** a restarted orchestrator waits for every node before it reconciles: found within half a second */
const MAX_BACKOFF_MS = 500;

export interface ReporterDeps {
  /** who this agent is, where it is reached, and where its orchestrator is */
  config: Pick<AgentConfig, 'node' | 'url' | 'token' | 'orchestrator' | 'limits'>;
  features: NodeFeatures;
  platform: NodePlatform;
  /** CRIU's record of this CPU (platform.ts readCpuRecord) */
  cpuinfo?: string;
  procs: () => AgentProc[];
  load: () => NodeLoad;
  log: FastifyBaseLogger;
  /** wss with the node's certificate, trusting only the cluster's CA */
  tls?: TlsMaterial;
}

export function startReporter(deps: ReporterDeps): { stop: () => void } {
  const { node, url, token, orchestrator } = deps.config;
  const wsUrl = new URL('/v1/agents/ws', orchestrator.url);
  wsUrl.protocol = wsUrl.protocol === 'https:' ? 'wss:' : 'ws:';
  let stopped = false;
  let backoff = 200;
  let ws: WebSocket | undefined;
  let timer: NodeJS.Timeout | undefined;

  const connect = () => {
    if (stopped) return;
    ws = new WebSocket(wsUrl, {
      headers: { authorization: `Bearer ${token}` },
      maxPayload: deps.config.limits?.frameBytes ?? DEFAULT_LIMITS.frameBytes,
      ...(deps.tls ? { ca: deps.tls.ca, cert: deps.tls.cert, key: deps.tls.key } : {}),
    });
    ws.on('open', () => {
      backoff = 200;
      deps.log.info({ orchestrator: orchestrator.url }, 'connected to the orchestrator');
      const hello: AgentHello = { type: 'hello', node, url, features: deps.features, platform: deps.platform, ...(deps.cpuinfo ? { cpuinfo: deps.cpuinfo } : {}), procs: deps.procs() };
      ws!.send(JSON.stringify(hello));
      const report = () => {
        const msg: AgentLoadMessage = { type: 'load', load: deps.load() };
        if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
      };
      report();
      timer = setInterval(report, REPORT_MS);
    });
    ws.on('error', (err) => deps.log.debug({ err: err.message }, 'orchestrator websocket error'));
    ws.on('close', () => {
      if (timer) clearInterval(timer);
      timer = undefined;
      if (stopped) return;
      setTimeout(connect, backoff).unref();
      backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
    });
  };
  connect();
  return {
    stop: () => {
      stopped = true;
      if (timer) clearInterval(timer);
      ws?.close();
    },
  };
}
