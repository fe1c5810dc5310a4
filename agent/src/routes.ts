import { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import {
  AccountName,
  Closed,
  Digits,
  IdParam,
  CloseStreamsRequest,
  DumpRequest,
  DumpResult,
  ErrorAnswers,
  ExpectResult,
  FinishResult,
  FileSizesRequest,
  FileSizesResult,
  GodwitError,
  LaunchRequest,
  LazyStatus,
  LazyStatusQuery,
  AgentProc,
  AgentProcList,
  type CarryPlan,
  CarryCheckRequest,
  CarryCheckResult,
  CpuCheckRequest,
  StagePruneRequest,
  StagePruneResult,
  InspectQuery,
  PageServer,
  ProcInspection,
  ReceiveResult,
  RestoreRequest,
  RestoreResult,
  SendRequest,
  SendResult,
  SignalRequest,
  StageCheckpointRequest,
  StageCheckpointResult,
  TakeCheckpointRequest,
  TakeCheckpointResult,
  TakenRequest,
} from '@godwit/schemas';
import { resolveAccount } from './accounts.js';
import type { Checkpoints } from './checkpoints.js';
import { writeClosed, writeTaken } from './keeper.js';
import type { Control } from './control.js';
import { type CarryAhead, pruneStages } from './carry-ahead.js';
import type { ImageStore } from './images.js';
import type { MoveCredentials } from './move-credentials.js';
import { bearerOf } from './require-token.js';
import { unownedBody } from '@godwit/schemas/unread-body';
import type { Lifecycle } from './lifecycle.js';
import { socketBlockers } from './carry-plan.js';
import { cannotMove, cannotMoveLazily, residentBytes, treePids } from './preflight.js';
import { copyOnWriteExtraBytes } from './cow-sharing.js';
import { epochOutput } from './output.js';
import type { ProcStore } from './procs.js';
import { NOT_PASSED_ON_BY_TINI } from './signals.js';
import { waitFor } from './wait.js';

export interface RouteDeps {
  node: string;
  /** the address page servers listen on: this node's own */
  host: string;
  procs: ProcStore;
  images: ImageStore;
  /** the credentials of the moves whose images this (destination) node expects */
  credentials: MoveCredentials;
  lifecycle: Lifecycle;
  checkpoints: Checkpoints;
  writeStdin: (dir: string, data: Buffer, eof: boolean) => Promise<void>;
  control?: Control;
  /** what a move of the process would do with its files (carry-plan.ts) */
  carryPlan: (id: number, rootPid: number, carryMaxBytes?: number) => CarryPlan;
  /** which places of files a move would carry here are taken (carried-files.ts) */
  carryConflicts: (req: CarryCheckRequest) => Promise<string[]>;
  /** the files a move carries, sent ahead while the program runs (carry-ahead.ts) */
  carryAhead: CarryAhead;
  /** CRIU's check of another node's CPU record against this CPU (cpu-check.ts) */
  cpuCheck: (req: CpuCheckRequest) => Promise<void>;
  /** where stages of files sent ahead lie (carry-ahead.ts) */
  dataDir: string;
}

const Id = IdParam;
const IdEpoch = Closed({ id: Digits, epoch: Digits });
const Mid = Closed({ migrationId: Digits });
const MigrationRef = Closed({ migrationId: Type.Integer() });
/** moved: the migration succeeded (its source removes the files it carried away) */
const DiscardImagesQuery = Closed({ moved: Type.Optional(Type.Boolean()) });

/**
 * What each route answers (schema.response): Fastify's serializer writes only what these
 * declare, so a field the agent keeps for itself never reaches the wire even where a route
 * returns a whole internal object.
 */
const answers = <S>(success: S) => ({ 200: success, ...ErrorAnswers });
const NO_CONTENT = { 204: Type.Null(), ...ErrorAnswers };
/** the epoch's output frames as its file holds them: a stream, which the serializer passes as it is */
const OutputBytes = Type.Unsafe<Readable>(Type.String({ description: 'application/octet-stream' }));

export const agentRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { node, host, procs, images, credentials, lifecycle, checkpoints, writeStdin, control, carryPlan, carryConflicts, carryAhead, cpuCheck, dataDir }) => {
  app.addContentTypeParser(['application/octet-stream', 'application/x-tar'], (_req, payload, done) => done(null, unownedBody(payload)));

  /** a raw body as the parser above leaves it; one sent as JSON or text is refused, not half-read */
  function rawBody(body: unknown, what: string): Readable | undefined {
    if (body === undefined || body instanceof Readable) return body;
    throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `${what} must be sent as application/octet-stream or application/x-tar`);
  }

  /** tells the epoch's keeper how far its output is stored; one whose keeper is gone needs no word */
  function taken(id: number, epoch: number, offset: number): void {
    const state = procs.epochInfo(id, epoch)?.state;
    if (state === 'running' || state === 'dumping' || state === 'stopped') writeTaken(procs.dirOf(id), epoch, offset);
  }

  app.get('/v1/procs', { schema: { response: answers(AgentProcList) } }, async () => procs.list());

  app.post('/v1/procs', { schema: { body: LaunchRequest, response: { 201: AgentProc, ...ErrorAnswers } } }, async (req, reply) => {
    const proc = await lifecycle.launch(req.body);
    return reply.status(201).send(proc);
  });

  app.get('/v1/procs/:id/output', {
    schema: { params: Id, querystring: Closed({ epoch: Type.Integer({ minimum: 0 }), offset: Type.Integer({ minimum: 0 }) }), produces: ['application/octet-stream'], response: answers(OutputBytes) },
  }, async (req, reply) => {
    const id = Number(req.params.id);
    const { epoch, offset } = req.query;
    if (!procs.epochInfo(id, epoch)) {
      throw new GodwitError('GODWIT_ERR_PROCESS_NOT_FOUND', `${node} has no output of process ${id} epoch ${epoch}`);
    }
    // asked from here, it has stored all before for good
    taken(id, epoch, offset);
    const abort = new AbortController();
    req.raw.on('close', () => abort.abort());
    const stream = Readable.from(
      epochOutput({
        dir: procs.dirOf(id),
        epoch,
        offset,
        what: `the output of process ${id} epoch ${epoch} on ${node}`,
        signal: abort.signal,
        endedByDump: async () => {
          await waitFor(() => (procs.dumping.has(id) ? undefined : true), { timeoutMs: 15 * 60_000, what: `the dump of process ${id}` });
          return procs.isDumped(id, epoch);
        },
      }),
    );
    return reply.type('application/octet-stream').send(stream);
  });

  app.get('/v1/procs/:id/epochs/:epoch', { schema: { params: IdEpoch, response: answers(AgentProc) } }, async (req) => {
    const info = procs.epochInfo(Number(req.params.id), Number(req.params.epoch));
    if (!info) throw new GodwitError('GODWIT_ERR_PROCESS_NOT_FOUND', `${node} has no epoch ${req.params.epoch} of process ${req.params.id}`);
    return info;
  });

  // the orchestrator stored the epoch's output this far: its keeper may spool further, and drop that
  app.post('/v1/procs/:id/epochs/:epoch/taken', { schema: { params: IdEpoch, body: TakenRequest, response: NO_CONTENT } }, async (req, reply) => {
    const id = Number(req.params.id);
    const epoch = Number(req.params.epoch);
    taken(id, epoch, req.body.offset);
    return reply.status(204).send(null);
  });

  app.post('/v1/procs/:id/output/close', { schema: { params: Id, body: CloseStreamsRequest, response: NO_CONTENT } }, async (req, reply) => {
    const id = Number(req.params.id);
    const cur = lifecycle.running(id);
    writeClosed(procs.dirOf(id), cur.epoch, req.body.streams);
    return reply.status(204).send(null);
  });

  app.delete('/v1/procs/:id/epochs/:epoch', { schema: { params: IdEpoch, response: NO_CONTENT } }, async (req, reply) => {
    const id = Number(req.params.id);
    const epoch = Number(req.params.epoch);
    const info = procs.epochInfo(id, epoch);
    if (info && (info.state === 'running' || info.state === 'dumping')) {
      throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `process ${id} epoch ${epoch} still runs on ${node}`);
    }
    // the orchestrator has its output: a program that ended here needs its control directory no more
    if (info?.state === 'exited') control?.remove(id);
    procs.removeEpoch(id, epoch);
    return reply.status(204).send(null);
  });

  app.post('/v1/procs/:id/stdin', {
    schema: { params: Id, querystring: Closed({ eof: Type.Optional(Type.Boolean()) }), response: NO_CONTENT },
  }, async (req, reply) => {
    const id = Number(req.params.id);
    lifecycle.running(id);
    const body = rawBody(req.body, 'the input');
    const chunks: Buffer[] = [];
    if (body) for await (const c of body) chunks.push(c as Buffer);
    await writeStdin(procs.dirOf(id), Buffer.concat(chunks), req.query.eof ?? false);
    return reply.status(204).send(null);
  });

  app.post('/v1/procs/:id/signal', { schema: { params: Id, body: SignalRequest, response: NO_CONTENT } }, async (req, reply) => {
    const cur = lifecycle.running(Number(req.params.id));
    // tini, PID 1 of the program's namespace, passes the others on to the program
    const target = NOT_PASSED_ON_BY_TINI.has(req.body.signal) ? (cur.pid ?? cur.rootPid) : cur.rootPid;
    try {
      process.kill(target, req.body.signal);
    } catch (err) {
      throw new GodwitError('GODWIT_ERR_PROCESS_NOT_RUNNING', `cannot signal process ${req.params.id} on ${node}: ${(err as Error).message}`);
    }
    return reply.status(204).send(null);
  });

  // what would stop a dump, looked at without stopping the program
  app.get('/v1/procs/:id/blockers', { schema: { params: Id, querystring: InspectQuery, response: answers(ProcInspection) } }, async (req): Promise<ProcInspection> => {
    const id = Number(req.params.id);
    const { rootPid } = lifecycle.running(id);
    const carry = carryPlan(id, rootPid, req.query.carryMaxBytes);
    return {
      reasons: [...cannotMove(rootPid, node), ...socketBlockers(carry)],
      lazyReasons: cannotMoveLazily(rootPid),
      residentBytes: residentBytes(rootPid),
      copyOnWriteExtraBytes: copyOnWriteExtraBytes(treePids(rootPid)),
      carry,
    };
  });

  app.post('/v1/procs/:id/dump', { schema: { params: Id, body: DumpRequest, response: answers(DumpResult) } }, async (req) =>
    lifecycle.dump(Number(req.params.id), req.body.migrationId, req.body.pageServer, req.body.lazy ?? false, req.body.carryMaxBytes),
  );

  app.post('/v1/procs/:id/finish', { schema: { params: Id, body: MigrationRef, response: answers(FinishResult) } }, async (req) =>
    lifecycle.finish(Number(req.params.id), req.body.migrationId),
  );

  app.post('/v1/procs/:id/resume', { schema: { params: Id, body: MigrationRef, response: NO_CONTENT } }, async (req, reply) => {
    await lifecycle.resume(Number(req.params.id), req.body.migrationId);
    return reply.status(204).send(null);
  });

  app.post('/v1/procs/:id/checkpoint', { schema: { params: Id, body: TakeCheckpointRequest, response: answers(TakeCheckpointResult) } }, async (req) =>
    checkpoints.take(Number(req.params.id), req.body.path, req.body.then, { maxBytes: req.body.maxBytes, compress: req.body.compress ?? true }),
  );

  app.post('/v1/checkpoints/stage', { schema: { body: StageCheckpointRequest, response: answers(StageCheckpointResult) } }, async (req) => checkpoints.stage(req.body));

  app.post('/v1/file-sizes', { schema: { body: FileSizesRequest, response: answers(FileSizesResult) } }, async (req): Promise<FileSizesResult> => ({
    sizes: await checkpoints.sizesNow(req.body.account, req.body.paths),
  }));

  // a move's destination looks its owner up before the program stops: the restore, which checks
  // the images against that account, then finds the answer kept (and a node where the owner has
  // no account is known before the program stopped, not after)
  app.post('/v1/accounts/:name/resolve', { schema: { params: Closed({ name: AccountName }), response: NO_CONTENT } }, async (req, reply) => {
    await resolveAccount(req.params.name, node);
    return reply.status(204).send(null);
  });

  app.post('/v1/images/:migrationId/page-server', { schema: { params: Mid, response: answers(PageServer) } }, async (req) => {
    const migrationId = Number(req.params.migrationId);
    const at = await images.startPageServer(migrationId, host);
    req.log.info({ migrationId, argv: images.pageServerOf(migrationId)?.argv }, 'CRIU page server started');
    return at;
  });

  app.post('/v1/procs/:id/send', { schema: { params: Id, body: SendRequest, response: answers(SendResult) } }, async (req) =>
    images.send(req.body.migrationId, Number(req.params.id), req.body.to, req.body.compress ?? false),
  );

  app.post('/v1/procs/:id/restore', { schema: { params: Id, body: RestoreRequest, response: answers(RestoreResult) } }, async (req) =>
    lifecycle.restore(Number(req.params.id), req.body),
  );

  // the orchestrator asks for the credential it hands to the move's source, which PUTs the images
  app.post('/v1/images/:migrationId/expect', { schema: { params: Mid, response: answers(ExpectResult) } }, async (req): Promise<ExpectResult> =>
    credentials.issue(Number(req.params.migrationId)),
  );

  // checked as the request comes, before any of its body is read (whatever its content type)
  const takeCredential = async (req: FastifyRequest<{ Params: { migrationId: string } }>) =>
    credentials.take(Number(req.params.migrationId), bearerOf(req.headers.authorization));
  app.put('/v1/images/:migrationId', { schema: { params: Mid, response: answers(ReceiveResult) }, bodyLimit: Number.MAX_SAFE_INTEGER, config: { moveCredential: true }, onRequest: takeCredential }, async (req) => {
    const body = rawBody(req.body, 'the images');
    if (!body) throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `no images were sent for migration ${req.params.migrationId}`);
    const bytes = await lifecycle.receive(Number(req.params.migrationId), body);
    return { bytes };
  });

  // a move's source sends the files it would carry to the destination's stage while the program runs
  app.post('/v1/procs/:id/carry-ahead', { schema: { params: Id, body: SendRequest, response: answers(SendResult) } }, async (req) =>
    carryAhead.send(Number(req.params.id), req.body.migrationId, req.body.to),
  );

  app.put('/v1/images/:migrationId/carried', { schema: { params: Mid, response: answers(ReceiveResult) }, bodyLimit: Number.MAX_SAFE_INTEGER, config: { moveCredential: true }, onRequest: takeCredential }, async (req) => {
    const body = rawBody(req.body, 'the files carried ahead');
    if (!body) throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `no files were sent ahead of migration ${req.params.migrationId}`);
    return carryAhead.receive(Number(req.params.migrationId), body);
  });

  app.get('/v1/images/:migrationId/lazy', { schema: { params: Mid, querystring: LazyStatusQuery, response: answers(LazyStatus) } }, async (req) =>
    lifecycle.lazyStatus(Number(req.params.migrationId), req.query.waitMs ?? 0),
  );

  // asked before a move stops its program: would the files it carries find their places free here?
  app.post('/v1/carry-check', { schema: { body: CarryCheckRequest, response: answers(CarryCheckResult) } }, async (req): Promise<CarryCheckResult> => ({ conflicts: await carryConflicts(req.body) }));

  app.post('/v1/carry-staging/prune', { schema: { body: StagePruneRequest, response: answers(StagePruneResult) } }, async (req): Promise<StagePruneResult> => ({ removed: pruneStages(dataDir, req.body) }));

  // asked before a program comes here from another node: would CRIU restore it on this CPU?
  app.post('/v1/cpu-check', { schema: { body: CpuCheckRequest, response: NO_CONTENT } }, async (req, reply) => {
    await cpuCheck(req.body);
    return reply.status(204).send(null);
  });

  app.get('/v1/images/:migrationId', { schema: { params: Mid, response: answers(ReceiveResult) } }, async (req) => {
    const mid = Number(req.params.migrationId);
    const bytes = images.bytesOf(mid);
    if (bytes === undefined) throw new GodwitError('GODWIT_ERR_NOT_FOUND', `${node} holds no images for migration ${mid}`);
    return { bytes };
  });

  app.delete('/v1/images/:migrationId', { schema: { params: Mid, querystring: DiscardImagesQuery, response: NO_CONTENT } }, async (req, reply) => {
    credentials.revoke(Number(req.params.migrationId));
    await lifecycle.discardImages(Number(req.params.migrationId), req.query.moved === true);
    return reply.status(204).send(null);
  });
};
