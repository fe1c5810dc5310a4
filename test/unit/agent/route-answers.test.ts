/**
 * What the agent's routes answer: each declares its success and the one error shape (closed
 * schemas in schemas/), and Fastify's serializer then sends only what they declare. The routes run
 * here over stores that hand back their answers with fields of their own added (as a whole
 * internal record would have), at the top and nested: none of those reaches the wire.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import Fastify, { type FastifyInstance, type FastifySchema } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { TSchema } from 'typebox';
import Value from 'typebox/value';
import { type AgentProc, type CarryPlan, ErrorBody } from '@godwit/schemas';
import { SERVER_OPTIONS, installErrorHandler } from '@godwit/schemas/http-errors';
import { listRoutes } from '@godwit/schemas/route-list';
import { agentRoutes, type RouteDeps } from '../../../agent/src/routes.js';
import { keptRoutes } from '../../../agent/src/kept-routes.js';
import { controlRoutes } from '../../../agent/src/control-routes.js';
import type { KeptOutput } from '../../../agent/src/kept-output.js';
import type { Control } from '../../../agent/src/control.js';
import { startFuzzAgent } from '../fuzz/agent-target.js';

const SECRET = 'INTERNAL-ONLY';

/** `value` with a field no schema declares added to every object in it */
function leaky<T>(value: T): T {
  if (Array.isArray(value)) return value.map(leaky) as T;
  if (value !== null && typeof value === 'object') {
    return { ...Object.fromEntries(Object.entries(value).map(([k, v]) => [k, leaky(v)])), internal: SECRET } as T;
  }
  return value;
}

const inodes = { in: 11, out: 12, err: 13 };
const proc: AgentProc = { id: 1, epoch: 0, state: 'exited', rootPid: process.pid, pid: null, inodes };
const openFile = { pid: 1, fd: 3, path: '/home/alice/data', mode: 'r' as const, append: false, offset: 0, size: 10, saved: false };
const plan: CarryPlan = {
  files: [{ path: '/tmp/x', kind: 'file', apparentBytes: 4, allocatedBytes: 4096, fate: 'carried', why: 'node-local' }],
  carriedBytes: 4096,
  limitBytes: 1 << 20,
  ghostLimitBytes: 0,
  refusal: null,
};
const mac = 'a'.repeat(64);
const homePid = { pid: 5, kept: true };

/** the routes' stores, each answer leaky; what is not called here throws */
function fakeDeps(dir: string): RouteDeps {
  return {
    node: 'node0',
    host: '127.0.0.1',
    procs: {
      list: () => leaky([proc]),
      epochInfo: () => leaky(proc),
      dirOf: () => dir,
      removeEpoch: () => undefined,
    },
    images: {
      startPageServer: async () => leaky({ host: '127.0.0.1', port: 7800 }),
      pageServerOf: () => undefined,
      send: async () => leaky({ bytes: 10, ms: 2 }),
      bytesOf: () => 10,
    },
    credentials: {
      issue: () => leaky({ credential: 'b'.repeat(64), expiresAt: 1 }),
      take: () => undefined,
      revoke: () => undefined,
    },
    lifecycle: {
      launch: async () => leaky(proc),
      running: () => leaky({ ...proc, state: 'running' }),
      dump: async () => leaky({ epoch: 0, inodes, stoppedAt: 1, dumpMs: 2, bytes: 3, direct: false, lazy: false, homePid, carried: [{ path: '/tmp/x', kind: 'file', bytes: 4, mode: 0o600 }] }),
      finish: async () => leaky({ unread: '', stdinClosed: true, homePid }),
      resume: async () => undefined,
      restore: async () => leaky({ rootPid: 7, pid: 8, inodes, restoredAt: 1, restoreMs: 2 }),
      lazyStatus: async () => leaky({ running: false, ok: true, onDemandBytes: 1, backgroundBytes: 2, reason: null, endedAt: 3 }),
      discardImages: async () => undefined,
      receive: async () => 10,
    },
    checkpoints: {
      take: async () => leaky({ bytes: 1, plainBytes: 2, mac, takenAt: 3, stoppedMs: 4, files: [openFile] }),
      stage: async () => leaky({ inodes, argv: ['/bin/prog'], cwd: '/home/alice', restoredFiles: ['/home/alice/out'], substituted: [] }),
      sizesNow: async () => [10, null],
    },
    writeStdin: async () => undefined,
    carryPlan: () => leaky(plan),
    carryConflicts: async () => ['/tmp/x is taken'],
    carryAhead: {
      send: async () => leaky({ bytes: 10, ms: 2 }),
      receive: async () => leaky({ bytes: 10 }),
    },
  } as unknown as RouteDeps;
}

async function agentApp(dir: string): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, ...SERVER_OPTIONS }).withTypeProvider<TypeBoxTypeProvider>();
  installErrorHandler(app, 'the agent of node0');
  listRoutes(app);
  await app.register(agentRoutes, fakeDeps(dir));
  const kept = {
    append: () => leaky({ logBase: 0, logSize: 10, log1Base: null }),
    read: () => leaky({ lines: [{ offset: 0, stream: 'stdout', data: 'aGkK' }], next: 10 }),
  } as unknown as KeptOutput;
  await app.register(keptRoutes, { kept });
  await app.register(controlRoutes, { control: { update: async () => undefined } as unknown as Control });
  await app.ready();
  return app;
}

function responseOf(app: FastifyInstance, method: string, url: string): Record<string, TSchema> {
  const route = app.routeList.find((r) => r.method === method && r.url === url);
  expect(route, `${method} ${url} is a route`).to.not.equal(undefined);
  return (route!.schema as FastifySchema & { response: Record<string, TSchema> }).response;
}

const state = { nmigs: 0, locked: false, needMemBytes: 0, checkpoints: 0 };
const to = { url: 'http://127.0.0.1:7701', credential: 'c'.repeat(64) };

/** one request per JSON-answering route, and what it answers */
const CALLS: { method: string; route: string; url?: string; json?: unknown; raw?: Buffer; status: number }[] = [
  { method: 'GET', route: '/v1/procs', status: 200 },
  { method: 'POST', route: '/v1/procs', json: { id: 1, account: 'alice', argv: ['/bin/prog'], cwd: '/', env: {}, control: state }, status: 201 },
  { method: 'GET', route: '/v1/procs/:id/epochs/:epoch', url: '/v1/procs/1/epochs/0', status: 200 },
  { method: 'GET', route: '/v1/procs/:id/blockers', url: '/v1/procs/1/blockers', status: 200 },
  { method: 'POST', route: '/v1/procs/:id/dump', url: '/v1/procs/1/dump', json: { migrationId: 1 }, status: 200 },
  { method: 'POST', route: '/v1/procs/:id/finish', url: '/v1/procs/1/finish', json: { migrationId: 1 }, status: 200 },
  { method: 'POST', route: '/v1/procs/:id/checkpoint', url: '/v1/procs/1/checkpoint', json: { path: 'ck.1', then: 'run' }, status: 200 },
  { method: 'POST', route: '/v1/checkpoints/stage', json: { path: 'ck.1', account: 'alice', mac, migrationId: 1, processId: 1, remap: {}, acceptChanged: false }, status: 200 },
  { method: 'POST', route: '/v1/file-sizes', json: { account: 'alice', paths: ['/a', '/b'] }, status: 200 },
  { method: 'POST', route: '/v1/images/:migrationId/page-server', url: '/v1/images/1/page-server', status: 200 },
  { method: 'POST', route: '/v1/procs/:id/send', url: '/v1/procs/1/send', json: { migrationId: 1, to }, status: 200 },
  { method: 'POST', route: '/v1/procs/:id/restore', url: '/v1/procs/1/restore', json: { migrationId: 1, account: 'alice', epoch: 1, inodes }, status: 200 },
  { method: 'POST', route: '/v1/images/:migrationId/expect', url: '/v1/images/1/expect', status: 200 },
  { method: 'PUT', route: '/v1/images/:migrationId', url: '/v1/images/1', raw: Buffer.from('images'), status: 200 },
  { method: 'POST', route: '/v1/procs/:id/carry-ahead', url: '/v1/procs/1/carry-ahead', json: { migrationId: 1, to }, status: 200 },
  { method: 'PUT', route: '/v1/images/:migrationId/carried', url: '/v1/images/1/carried', raw: Buffer.from('files'), status: 200 },
  { method: 'GET', route: '/v1/images/:migrationId/lazy', url: '/v1/images/1/lazy', status: 200 },
  { method: 'POST', route: '/v1/carry-check', json: { files: [{ path: '/tmp/x', kind: 'file' }] }, status: 200 },
  { method: 'GET', route: '/v1/images/:migrationId', url: '/v1/images/1', status: 200 },
  { method: 'POST', route: '/v1/kept/:id', url: '/v1/kept/1?logBase=0&logSize=0&outOffset=0&limit=100', raw: Buffer.from('x'), status: 200 },
  { method: 'GET', route: '/v1/kept/:id', url: '/v1/kept/1?from=0&end=10&logBase=0&logSize=10', status: 200 },
];

describe("the agent's answers", () => {
  let dir: string;
  let app: FastifyInstance;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'godwit-route-answers-'));
    app = await agentApp(dir);
  });
  after(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('are declared for every route of a real agent: a success, and errors in the one shape', async function () {
    this.timeout(30_000);
    const real = await startFuzzAgent();
    try {
      const undeclared: string[] = [];
      for (const r of real.agent.app.routeList) {
        const response = (r.schema as { response?: Record<string, unknown> } | undefined)?.response;
        const success = Object.keys(response ?? {}).filter((s) => /^2\d\d$/.test(s));
        if (!response || success.length !== 1 || response['4xx'] !== ErrorBody || response['5xx'] !== ErrorBody) undeclared.push(`${r.method} ${r.url}`);
      }
      expect(real.agent.app.routeList.length, 'routes looked at').to.be.above(25);
      expect(undeclared, 'routes without a success and the error shape declared').to.deep.equal([]);
    } finally {
      await real.close();
    }
  });

  for (const call of CALLS) {
    it(`${call.method} ${call.route} sends its schema's shape, and nothing more`, async () => {
      const res = await app.inject({
        method: call.method as 'GET',
        url: call.url ?? call.route,
        ...(call.json !== undefined ? { payload: call.json as object } : {}),
        ...(call.raw ? { payload: call.raw, headers: { 'content-type': 'application/octet-stream' } } : {}),
      });
      expect(res.statusCode, res.body).to.equal(call.status);
      expect(res.body, 'a field the agent keeps for itself').to.not.include(SECRET);
      const schema = responseOf(app, call.method, call.route)[String(call.status)]!;
      const body: unknown = res.json();
      expect(Value.Check(schema, body), `${res.body} against its schema: ${[...Value.Errors(schema, body)].map((e) => `${e.instancePath} ${e.message}`).join('; ')}`).to.equal(true);
    });
  }

  it('answers an error in the one shape, with nothing a thrown error carries besides', async () => {
    const failing = Fastify({ logger: false, ...SERVER_OPTIONS }).withTypeProvider<TypeBoxTypeProvider>();
    installErrorHandler(failing, 'the agent of node0');
    listRoutes(failing);
    const deps = fakeDeps(dir);
    deps.procs.epochInfo = () => undefined;
    await failing.register(agentRoutes, deps);
    try {
      const res = await failing.inject({ method: 'GET', url: '/v1/procs/1/epochs/4' });
      expect(res.statusCode, res.body).to.equal(404);
      expect(Value.Check(ErrorBody, res.json()), res.body).to.equal(true);
      expect(res.json()).to.include({ code: 'GODWIT_ERR_PROCESS_NOT_FOUND' });
    } finally {
      await failing.close();
    }
  });

  it('ends a 204 with no body', async () => {
    const res = await app.inject({ method: 'PUT', url: '/v1/procs/1/control', payload: { state } });
    expect([res.statusCode, res.body]).to.deep.equal([204, '']);
  });
});
