/** A test cluster: fake agents, and an orchestrator that really listens on 127.0.0.1. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Limits } from '@godwit/schemas';
import { type App, buildApp } from '../../../orchestrator/src/app.js';
import { checkConfig, type Config } from '../../../orchestrator/src/config.js';
import { type FakeAgent, startFakeAgent } from './fake-agent.js';
import type { FakeCheckpointFile } from './fake-agent-state.js';

export const TOKENS = {
  alice: 'alice-token-0123456789',
  bob: 'bob-token-0123456789ab',
  root: 'root-token-0123456789a',
};

export interface Cluster {
  app: App;
  url: string;
  config: Config;
  agents: FakeAgent[];
  agent(name: string): FakeAgent;
  /** app.inject as a user */
  req(user: keyof typeof TOKENS, method: string, url: string, body?: unknown): Promise<{ status: number; json: any; body: string; headers: Record<string, unknown> }>;
  /** POST /v1/processes/ID/stdin as a user: data as the octet stream it is */
  stdin(user: keyof typeof TOKENS, id: number, data: Buffer, eof: boolean): Promise<{ status: number; body: string }>;
  /** a new orchestrator on the same data directory and agents */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface ClusterOptions {
  nodes?: number;
  outputLimitBytes?: number;
  limits?: Partial<Limits>;
  /** connect the agents (default true) */
  connect?: boolean;
  /** how long a node may stay silent before it is offline (default 2000 ms) */
  nodeTimeoutMs?: number;
  /** programs' own addresses (mosrun --ip) */
  addresses?: Config['addresses'];
}

export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const dataDir = mkdtempSync(join(tmpdir(), 'godwit-orch-'));
  const agents: FakeAgent[] = [];
  // the checkpoint directory all the cluster's nodes share
  const checkpointFiles = new Map<string, FakeCheckpointFile>();
  for (let i = 0; i < (opts.nodes ?? 2); i++) agents.push(await startFakeAgent(`node${i}`, `node${i}-token-0123456789`, checkpointFiles));
  const config = checkConfig({
    listen: { host: '127.0.0.1', port: 0 },
    tls: false,
    dataDir,
    users: [
      { name: 'alice', token: TOKENS.alice },
      { name: 'bob', token: TOKENS.bob, account: 'bob-unix' },
      { name: 'root', token: TOKENS.root, admin: true },
    ],
    nodes: agents.map((a) => ({ name: a.name, url: a.url, token: a.token })),
    nodeTimeoutMs: opts.nodeTimeoutMs ?? 2000,
    checkpointDir: join(dataDir, 'checkpoints'),
    ...(opts.outputLimitBytes ? { outputLimitBytes: opts.outputLimitBytes } : {}),
    ...(opts.limits ? { limits: opts.limits } : {}),
    ...(opts.addresses ? { addresses: opts.addresses } : {}),
  });

  const cluster: Cluster = {
    app: undefined as unknown as App,
    url: '',
    config,
    agents,
    agent: (name) => agents.find((a) => a.name === name)!,
    req: async (user, method, url, body) => {
      const res = await cluster.app.inject({
        method: method as 'GET',
        url,
        headers: { authorization: `Bearer ${TOKENS[user]}` },
        ...(body === undefined ? {} : { payload: body as object }),
      });
      let json: unknown;
      try {
        json = res.json();
      } catch {
        json = undefined;
      }
      return { status: res.statusCode, json, body: res.body, headers: res.headers };
    },
    stdin: async (user, id, data, eof) => {
      const res = await cluster.app.inject({
        method: 'POST',
        url: `/v1/processes/${id}/stdin?eof=${eof}`,
        headers: { authorization: `Bearer ${TOKENS[user]}`, 'content-type': 'application/octet-stream' },
        payload: data,
      });
      return { status: res.statusCode, body: res.body };
    },
    restart: async () => {
      await stopOrchestrator();
      await startOrchestrator();
    },
    close: async () => {
      await stopOrchestrator();
      for (const a of agents) await a.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };

  async function startOrchestrator() {
    // cluster.config: a test may change it before restart(), as an administrator would
    const app = await buildApp(cluster.config, {
      logger: false,
      tunables: { reconcileWaitMs: 5000, retryMaxMs: 200 },
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    if (!addr || typeof addr === 'string') throw new Error('orchestrator has no port');
    cluster.app = app;
    cluster.url = `http://127.0.0.1:${addr.port}`;
    if (opts.connect !== false) {
      for (const a of agents) await a.connect(cluster.url);
      await waitFor(() => agents.every((a) => app.godwit.ctx.nodes.isOnline(a.name)), 'all nodes online');
    }
  }

  async function stopOrchestrator() {
    if (!cluster.app) return;
    for (const a of agents) await a.disconnect();
    await cluster.app.close();
  }

  await startOrchestrator();
  return cluster;
}

/** Polls check until it returns truthy; fails after timeoutMs naming what it waited for and what it last saw. */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 5000,
  seen?: () => unknown,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > deadline) {
      const saw = seen ? await seen() : last;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last saw ${JSON.stringify(saw)}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function decodeOutput(ndjson: string): { text: string; lines: any[]; exit?: { code: number | null; signal: string | null } } {
  const lines = ndjson.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  let text = '';
  let exit;
  for (const l of lines) {
    if (l.exit) exit = l.exit;
    else text += Buffer.from(l.data, 'base64').toString();
  }
  return { text, lines, exit };
}
