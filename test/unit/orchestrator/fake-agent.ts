/**
 * An in-memory agent for the orchestrator's unit tests: the agent REST API the orchestrator
 * calls, and the websocket report it expects, with programs that are only what a test makes them
 * say. Failures are set per call kind.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import WebSocket from 'ws';
import {
  type AgentProc,
  type ApiErrorBody,
  encodeFrame,
  type ErrorCode,
  GodwitError,
  type LaunchRequest,
  type RestoreRequest,
  type SendRequest,
  type StreamInodes,
} from '@godwit/schemas';
import { createKeptOutput } from '../../../agent/src/kept-output.js';
import { keptRoutes } from '../../../agent/src/kept-routes.js';

export interface FakeEpoch {
  proc: AgentProc;
  out: Buffer;
  ended: boolean;
  stdin: Buffer[];
  eof: boolean;
  signals: string[];
  launch?: LaunchRequest;
  listeners: Set<() => void>;
}

export interface Failure {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

export interface FakeAgent {
  name: string;
  token: string;
  url: string;
  epochs: Map<string, FakeEpoch>;
  images: Map<number, { id: number; epoch: number; inodes: StreamInodes }>;
  fail: { launch?: Failure; account?: Failure; dump?: Failure; send?: Failure; restore?: Failure; output?: Failure };
  /** what its load reports say of each of its programs' CPU use (idle, by default) */
  cpu: { cpuSeconds: number; cpuDemand: number };
  /** calls received, as "METHOD path" */
  calls: string[];
  current(id: number): FakeEpoch | undefined;
  write(id: number, stream: 'o' | 'e', text: string): void;
  exit(id: number, code: number | null, signal?: string | null): void;
  /** breaks the output streams being served, as an agent that dies would */
  cutOutput(): void;
  /** what POST /dump does, without a request */
  dumpNow(id: number, migrationId: number): void;
  connect(orchestratorUrl: string): Promise<void>;
  disconnect(): Promise<void>;
  close(): Promise<void>;
}

let nextPid = 1000;
const key = (id: number, epoch: number) => `${id}:${epoch}`;
const inodes = (): StreamInodes => ({ in: nextPid * 10 + 1, out: nextPid * 10 + 2, err: nextPid * 10 + 3 });

export async function startFakeAgent(name: string, token: string): Promise<FakeAgent> {
  const app: FastifyInstance = Fastify({ logger: false, forceCloseConnections: true });
  const epochs = new Map<string, FakeEpoch>();
  const images = new Map<number, { id: number; epoch: number; inodes: StreamInodes }>();
  const calls: string[] = [];
  const fail: FakeAgent['fail'] = {};
  const cpu: FakeAgent['cpu'] = { cpuSeconds: 0, cpuDemand: 0 };
  let socket: WebSocket | undefined;
  const streams = new Set<PassThrough>();
  let loadTimer: NodeJS.Timeout | undefined;

  const err = (f: Failure) => new GodwitError(f.code, f.message, f.details);
  app.setErrorHandler((e, _req, reply) => {
    const g = e instanceof GodwitError ? e : new GodwitError('GODWIT_ERR_INTERNAL', (e as Error).message);
    return reply.code(g.statusCode).send(g.toBody() satisfies ApiErrorBody);
  });
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_r, body, done) => done(null, body));
  app.addHook('onRequest', async (req, reply) => {
    calls.push(`${req.method} ${req.url}`);
    if (req.headers.authorization !== `Bearer ${token}`) {
      return reply.code(401).send(new GodwitError('GODWIT_ERR_UNAUTHORIZED', `bad token for ${name}`).toBody());
    }
  });

  function current(id: number): FakeEpoch | undefined {
    let best: FakeEpoch | undefined;
    for (const e of epochs.values()) if (e.proc.id === id && (!best || e.proc.epoch > best.proc.epoch)) best = e;
    return best;
  }
  function running(id: number): FakeEpoch {
    const e = current(id);
    if (!e || e.proc.state !== 'running') throw new GodwitError('GODWIT_ERR_PROCESS_NOT_FOUND', `${name} runs no process ${id}`);
    return e;
  }
  function append(e: FakeEpoch, frame: Buffer): void {
    e.out = Buffer.concat([e.out, frame]);
    for (const l of e.listeners) l();
  }
  function newEpoch(id: number, epoch: number, ino: StreamInodes): FakeEpoch {
    const pid = nextPid++;
    const e: FakeEpoch = {
      proc: { id, epoch, state: 'running', rootPid: pid, pid: pid + 1, inodes: ino },
      out: Buffer.alloc(0),
      ended: false,
      stdin: [],
      eof: false,
      signals: [],
      listeners: new Set(),
    };
    nextPid++;
    epochs.set(key(id, epoch), e);
    return e;
  }
  function end(e: FakeEpoch, code: number | null, signal: string | null, dumped: boolean): void {
    e.proc.state = dumped ? 'dumped' : 'exited';
    e.ended = true;
    append(e, encodeFrame('x', Buffer.from(JSON.stringify({ code, signal, dumped }))));
  }
  function dumpNow(id: number, migrationId: number) {
    const e = running(id);
    end(e, null, null, true);
    images.set(migrationId, { id, epoch: e.proc.epoch, inodes: e.proc.inodes });
    return e;
  }

  app.post<{ Body: LaunchRequest }>('/v1/procs', async (req, reply) => {
    if (fail.launch) throw err(fail.launch);
    const e = newEpoch(req.body.id, 0, inodes());
    e.launch = req.body;
    return reply.code(201).send(e.proc);
  });
  app.get('/v1/procs', async () => [...epochs.values()].map((e) => e.proc));
  app.get<{ Params: { id: string }; Querystring: { epoch: string; offset: string } }>(
    '/v1/procs/:id/output',
    async (req, reply) => {
      if (fail.output) throw err(fail.output);
      const e = epochs.get(key(Number(req.params.id), Number(req.query.epoch)));
      if (!e) throw new GodwitError('GODWIT_ERR_NOT_FOUND', `${name} has no epoch ${req.query.epoch} of ${req.params.id}`);
      const out = new PassThrough();
      let sent = Number(req.query.offset);
      const pump = () => {
        if (e.out.length > sent) {
          out.write(e.out.subarray(sent));
          sent = e.out.length;
        }
        if (e.ended && sent >= e.out.length) {
          e.listeners.delete(pump);
          out.end();
        }
      };
      e.listeners.add(pump);
      streams.add(out);
      reply.raw.on('close', () => {
        e.listeners.delete(pump);
        streams.delete(out);
      });
      setImmediate(pump);
      return reply.type('application/octet-stream').send(out);
    },
  );
  app.delete<{ Params: { id: string; epoch: string } }>('/v1/procs/:id/epochs/:epoch', async (req, reply) => {
    epochs.delete(key(Number(req.params.id), Number(req.params.epoch)));
    return reply.code(204).send();
  });
  app.post<{ Params: { id: string }; Querystring: { eof?: string }; Body: Buffer }>(
    '/v1/procs/:id/stdin',
    async (req, reply) => {
      const e = running(Number(req.params.id));
      if (req.body) e.stdin.push(req.body);
      if (req.query.eof === 'true') e.eof = true;
      return reply.code(204).send();
    },
  );
  app.post<{ Params: { id: string }; Body: { signal: string } }>('/v1/procs/:id/signal', async (req, reply) => {
    const e = running(Number(req.params.id));
    e.signals.push(req.body.signal);
    if (req.body.signal === 'SIGKILL' || req.body.signal === 'SIGTERM') end(e, null, req.body.signal, false);
    return reply.code(204).send();
  });
  app.post<{ Params: { id: string }; Body: { migrationId: number } }>('/v1/procs/:id/dump', async (req) => {
    running(Number(req.params.id));
    if (fail.dump) throw err(fail.dump);
    const e = dumpNow(Number(req.params.id), req.body.migrationId);
    return { epoch: e.proc.epoch, inodes: e.proc.inodes, frozenAt: Date.now() - 5, dumpMs: 5, bytes: 4096, direct: false, lazy: false };
  });
  app.post('/v1/accounts/:name/resolve', async (_req, reply) => {
    if (fail.account) throw err(fail.account);
    return reply.code(204).send();
  });
  // a small program that nothing keeps from moving: auto copies it whole
  app.get<{ Params: { id: string } }>('/v1/procs/:id/blockers', async (req) => {
    running(Number(req.params.id));
    return { reasons: [], lazyReasons: [], residentBytes: 1 << 20 };
  });
  app.post<{ Params: { id: string }; Body: SendRequest }>('/v1/procs/:id/send', async (req) => {
    if (fail.send) throw err(fail.send);
    const img = images.get(req.body.migrationId);
    if (!img) throw new GodwitError('GODWIT_ERR_TRANSFER_FAILED', `${name} holds no images of migration ${req.body.migrationId}`);
    const res = await fetch(`${req.body.to.url}/v1/images/${req.body.migrationId}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${req.body.to.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(img),
    });
    if (!res.ok) throw new GodwitError('GODWIT_ERR_TRANSFER_FAILED', `destination said ${res.status}: ${await res.text()}`);
    return { bytes: 4096, ms: 2 };
  });
  app.put<{ Params: { mid: string }; Body: { id: number; epoch: number; inodes: StreamInodes } }>(
    '/v1/images/:mid',
    async (req) => {
      images.set(Number(req.params.mid), req.body);
      return { bytes: 4096 };
    },
  );
  app.get<{ Params: { mid: string } }>('/v1/images/:mid', async (req) => {
    if (!images.has(Number(req.params.mid))) throw new GodwitError('GODWIT_ERR_NOT_FOUND', `no images of ${req.params.mid}`);
    return { bytes: 4096 };
  });
  app.delete<{ Params: { mid: string } }>('/v1/images/:mid', async (req, reply) => {
    images.delete(Number(req.params.mid));
    return reply.code(204).send();
  });
  app.post<{ Params: { id: string }; Body: RestoreRequest }>('/v1/procs/:id/restore', async (req) => {
    if (fail.restore) throw err(fail.restore);
    const img = images.get(req.body.migrationId);
    if (!img) throw new GodwitError('GODWIT_ERR_CANNOT_RESTORE', `${name} holds no images of migration ${req.body.migrationId}`);
    const e = newEpoch(Number(req.params.id), req.body.epoch, req.body.inodes);
    return { rootPid: e.proc.rootPid, pid: e.proc.pid, inodes: e.proc.inodes, restoredAt: Date.now(), restoreMs: 3 };
  });

  // the output a home node keeps is plain file work: the agent's own code, on a scratch directory
  const keptDir = mkdtempSync(join(tmpdir(), `godwit-fake-${name}-`));
  await app.register(keptRoutes, { kept: createKeptOutput(keptDir, name) });

  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('fake agent has no port');
  const url = `http://127.0.0.1:${addr.port}`;

  const agent: FakeAgent = {
    name,
    token,
    url,
    epochs,
    images,
    fail,
    cpu,
    calls,
    current,
    write: (id, stream, text) => append(running(id), encodeFrame(stream, Buffer.from(text))),
    exit: (id, code, signal = null) => end(running(id), code, signal, false),
    dumpNow: (id, mid) => void dumpNow(id, mid),
    cutOutput: () => {
      for (const s of streams) s.destroy(new Error('agent died'));
      streams.clear();
    },
    connect: (orchestratorUrl) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(`${orchestratorUrl.replace(/^http/, 'ws')}/v1/agents/ws`, {
          headers: { authorization: `Bearer ${token}` },
        });
        socket = ws;
        ws.on('open', () => {
          ws.send(JSON.stringify({
            type: 'hello',
            node: name,
            url,
            features: { criuVersion: '4.0', lazyPages: false, dirtyTracking: false },
            procs: [...epochs.values()].map((e) => e.proc),
          }));
          loadTimer = setInterval(() => {
            if (ws.readyState !== WebSocket.OPEN) return;
            ws.send(JSON.stringify({
              type: 'load',
              load: {
                at: Date.now(), cpuCapacity: 1, cpuUsed: 0.1, memTotalBytes: 1 << 30, memFreeBytes: 1 << 29, running: epochs.size,
                procs: [...epochs.values()].filter((e) => !e.ended).map(({ proc }) => ({
                  id: proc.id, epoch: proc.epoch, ...cpu, cpuRate: cpu.cpuDemand, ioBytesPerS: 0, rssBytes: 1 << 20,
                })),
              },
            }));
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
  };
  return agent;
}
