/**
 * An in-memory agent for the orchestrator's unit tests: every route of the agent's REST API
 * (agent/src/routes.ts, control-routes.ts, kept-routes.ts), checked against the schemas the real
 * agent checks them with and answering in its types, and the websocket report the orchestrator
 * expects, with programs that are only what a test makes them say. Failures are set per call kind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PassThrough } from 'node:stream';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify from 'fastify';
import WebSocket from 'ws';
import { type AgentHello, type AgentLoadMessage, encodeFrame, GodwitError } from '@godwit/schemas';
import { SERVER_OPTIONS, installErrorHandler } from '@godwit/schemas/http-errors';
import { createKeptOutput } from '../../../agent/src/kept-output.js';
import { keptRoutes } from '../../../agent/src/kept-routes.js';
import { createMoveCredentials } from '../../../agent/src/move-credentials.js';
import { fakeCheckpointRoutes } from './fake-agent-checkpoint-routes.js';
import { fakeMoveRoutes } from './fake-agent-move-routes.js';
import { fakeProcRoutes } from './fake-agent-proc-routes.js';
import { append, current, dumpNow, end, type FakeCheckpointFile, type FakeEpoch, type FakeState, running } from './fake-agent-state.js';

export interface FakeAgent extends FakeState {
  token: string;
  url: string;
  /** calls received, as "METHOD path" */
  calls: string[];
  /** the routes it answers, as "METHOD /path/:param" */
  routes: string[];
  current(id: number): FakeEpoch | undefined;
  write(id: number, stream: 'o' | 'e', text: string): void;
  exit(id: number, code: number | null, signal?: string | null): void;
  /** breaks the output streams being served, as an agent that dies would */
  cutOutput(): void;
  /** what POST /dump does (a whole dump), without a request */
  dumpNow(id: number, migrationId: number): void;
  connect(orchestratorUrl: string): Promise<void>;
  disconnect(): Promise<void>;
  close(): Promise<void>;
}

/** checkpointFiles: the cluster's checkpoint directory, shared by its agents */
export async function startFakeAgent(name: string, token: string, checkpointFiles = new Map<string, FakeCheckpointFile>()): Promise<FakeAgent> {
  const app = Fastify({ logger: false, forceCloseConnections: true, ...SERVER_OPTIONS }).withTypeProvider<TypeBoxTypeProvider>();
  const state: FakeState = {
    name,
    epochs: new Map(),
    images: new Map(),
    credentials: createMoveCredentials(),
    sends: [],
    checkpointFiles,
    lazy: new Map(),
    fileSizes: new Map(),
    fail: {},
    features: { criuVersion: '4.0', lazyPages: false, dirtyTracking: false },
    platform: { cpuModel: 'Fake CPU', cpuFeatures: ['fpu', 'sse', 'sse2', 'avx', 'avx2'], cpuMasked: [], cpuFeatureHash: '0123456789abcdef', kernel: '6.1.0', criuVersion: '4.0' },
    directDumps: false,
    cpu: { cpuSeconds: 0, cpuDemand: 0 },
  };
  const { epochs } = state;
  const calls: string[] = [];
  const routes: string[] = [];
  let socket: WebSocket | undefined;
  const streams = new Set<PassThrough>();
  let loadTimer: NodeJS.Timeout | undefined;

  installErrorHandler(app, `the fake agent of ${name}`);
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_r, body, done) => done(null, body));
  app.addHook('onRequest', async (req, reply) => {
    calls.push(`${req.method} ${req.url}`);
    // as the real agent: a move's source sends images with the move's credential, no token
    if (req.routeOptions.config.moveCredential) return;
    if (req.headers.authorization !== `Bearer ${token}`) {
      return reply.code(401).send(new GodwitError('GODWIT_ERR_UNAUTHORIZED', `bad token for ${name}`).toBody());
    }
  });
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) if (method !== 'HEAD') routes.push(`${method} ${r.url}`);
  });
  await app.register(fakeProcRoutes, { state, streams });
  await app.register(fakeMoveRoutes, { state });
  await app.register(fakeCheckpointRoutes, { state });
  // the output a home node keeps is plain file work: the agent's own code, on a scratch directory
  const keptDir = mkdtempSync(join(tmpdir(), `godwit-fake-${name}-`));
  await app.register(keptRoutes, { kept: createKeptOutput(keptDir, name) });

  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('fake agent has no port');
  const url = `http://127.0.0.1:${addr.port}`;

  // the agent is its state: what a test turns (fail, features, directDumps, ...) the routes see
  const agent: FakeAgent = Object.assign(state, {
    token,
    url,
    calls,
    routes,
    current: (id: number) => current(state, id),
    write: (id: number, stream: 'o' | 'e', text: string) => append(running(state, id), encodeFrame(stream, Buffer.from(text))),
    exit: (id: number, code: number | null, signal: string | null = null) => end(running(state, id), code, signal, false),
    dumpNow: (id: number, mid: number) => void dumpNow(state, id, mid),
    cutOutput: () => {
      for (const s of streams) s.destroy(new Error('agent died'));
      streams.clear();
    },
    connect: (orchestratorUrl: string) =>
      new Promise<void>((resolve, reject) => {
        const ws = new WebSocket(`${orchestratorUrl.replace(/^http/, 'ws')}/v1/agents/ws`, {
          headers: { authorization: `Bearer ${token}` },
        });
        socket = ws;
        ws.on('open', () => {
          const hello: AgentHello = { type: 'hello', node: name, url, features: state.features, platform: state.platform, procs: [...epochs.values()].map((e) => e.proc) };
          ws.send(JSON.stringify(hello));
          loadTimer = setInterval(() => {
            if (ws.readyState !== WebSocket.OPEN) return;
            const { cpu } = state;
            const load: AgentLoadMessage = {
              type: 'load',
              load: {
                at: Date.now(), cpuCapacity: 1, cpuUsed: 0.1, memTotalBytes: 1 << 30, memFreeBytes: 1 << 29, running: epochs.size,
                procs: [...epochs.values()].filter((e) => !e.ended).map(({ proc }) => ({
                  id: proc.id, epoch: proc.epoch, ...cpu, cpuRate: cpu.cpuDemand, ioBytesPerS: 0, rssBytes: 1 << 20,
                })),
              },
            };
            ws.send(JSON.stringify(load));
          }, 200);
          resolve();
        });
        ws.on('error', reject);
      }),
    disconnect: async () => {
      clearInterval(loadTimer);
      const ws = socket;
      socket = undefined;
      if (ws && ws.readyState !== WebSocket.CLOSED) {
        await new Promise<void>((r) => {
          ws.once('close', () => r());
          ws.close();
        });
      }
    },
    close: async () => {
      await agent.disconnect();
      for (const e of epochs.values()) for (const l of e.listeners) l();
      await app.close();
      rmSync(keptDir, { recursive: true, force: true });
    },
  });
  return agent;
}
