/**
 * The fake agent's routes of a move: the destination's account and page server, the dump (whole,
 * direct to a page server, or lazy), sending and receiving images, the restore, the lazy pages'
 * status, and the end of the stopped copy a direct or lazy dump leaves at the source (finish,
 * resume). Paths, bodies and answers are the real agent's (agent/src/routes.ts).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import {
  CarryCheckRequest, CpuCheckRequest, StagePruneRequest, type StagePruneResult,
  type CarryCheckResult,
  AccountName,
  DumpRequest,
  type DumpResult,
  type ExpectResult,
  type FinishResult,
  GodwitError,
  type LazyStatus,
  LazyStatusQuery,
  type PageServer,
  RestoreRequest,
  type RestoreResult,
  SendRequest,
  type SendResult,
} from '@godwit/schemas';
import { bearerOf } from '../../../agent/src/require-token.js';
import { dumpNow, end, failWith, type FakeImages, type FakeState, newEpoch, running, stoppedCopy } from './fake-agent-state.js';
import { Id } from './fake-agent-proc-routes.js';

const Mid = Type.Object({ migrationId: Type.String({ pattern: '^[0-9]+$' }) });
const MigrationRef = Type.Object({ migrationId: Type.Integer() });
const IMAGE_BYTES = 4096;

export const fakeMoveRoutes: FastifyPluginAsyncTypebox<{ state: FakeState }> = async (app, { state }) => {
  const { name, images } = state;

  app.post('/v1/accounts/:name/resolve', { schema: { params: Type.Object({ name: AccountName }) } }, async (_req, reply) => {
    failWith(state, 'account');
    return reply.code(204).send();
  });

  app.post('/v1/images/:migrationId/expect', { schema: { params: Mid } }, async (req): Promise<ExpectResult> =>
    state.credentials.issue(Number(req.params.migrationId)),
  );

  app.post('/v1/images/:migrationId/page-server', { schema: { params: Mid } }, async (): Promise<PageServer> => {
    failWith(state, 'pageServer');
    return { host: '127.0.0.1', port: 1 };
  });

  app.post('/v1/procs/:id/dump', { schema: { params: Id, body: DumpRequest } }, async (req): Promise<DumpResult> => {
    running(state, Number(req.params.id));
    failWith(state, 'dump');
    const lazy = req.body.lazy === true;
    if (lazy && !state.features.lazyPages) {
      throw new GodwitError('GODWIT_ERR_STRATEGY_UNAVAILABLE', `lazy migration cannot be used: ${name} has no userfaultfd; the process was not stopped`, { strategy: 'lazy' });
    }
    const direct = lazy || (req.body.pageServer !== undefined && state.directDumps);
    const e = dumpNow(state, Number(req.params.id), req.body.migrationId, { direct, lazy });
    return { epoch: e.proc.epoch, inodes: e.proc.inodes, stoppedAt: Date.now() - 5, dumpMs: 5, bytes: IMAGE_BYTES, direct, lazy };
  });

  app.post('/v1/procs/:id/send', { schema: { params: Id, body: SendRequest } }, async (req): Promise<SendResult> => {
    failWith(state, 'send');
    state.sends.push(req.body);
    const img = images.get(req.body.migrationId);
    if (!img || img.id !== Number(req.params.id)) {
      throw new GodwitError('GODWIT_ERR_NOT_FOUND', `${name} holds no images of process ${req.params.id} for migration ${req.body.migrationId}`);
    }
    const res = await fetch(`${req.body.to.url}/v1/images/${req.body.migrationId}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${req.body.to.credential}`, 'content-type': 'application/json' },
      body: JSON.stringify(img),
    });
    if (!res.ok) throw new GodwitError('GODWIT_ERR_TRANSFER_FAILED', `destination said ${res.status}: ${await res.text()}`);
    return { bytes: IMAGE_BYTES, ms: 2 };
  });

  // the real agent takes a tar stream; the fake's images are their description, as JSON
  app.put<{ Params: { migrationId: string }; Body: FakeImages }>('/v1/images/:migrationId', { config: { moveCredential: true } }, async (req) => {
    state.credentials.take(Number(req.params.migrationId), bearerOf(req.headers.authorization));
    images.set(Number(req.params.migrationId), req.body);
    return { bytes: IMAGE_BYTES };
  });

  app.get('/v1/images/:migrationId', { schema: { params: Mid } }, async (req) => {
    if (!images.has(Number(req.params.migrationId))) {
      throw new GodwitError('GODWIT_ERR_NOT_FOUND', `${name} holds no images for migration ${req.params.migrationId}`);
    }
    return { bytes: IMAGE_BYTES };
  });

  // the fake's programs use no node-local files: every place is free
  app.post('/v1/carry-check', { schema: { body: CarryCheckRequest } }, async (): Promise<CarryCheckResult> => ({ conflicts: [] }));

  // the fake's hello sends no CPU record, so the orchestrator compares names and never asks this
  app.post('/v1/cpu-check', { schema: { body: CpuCheckRequest } }, async (_req, reply) => reply.status(204).send());

  // the fake stages nothing ahead: no stage to remove
  app.post('/v1/carry-staging/prune', { schema: { body: StagePruneRequest } }, async (): Promise<StagePruneResult> => ({ removed: [] }));

  // the fake's programs use no node-local files: nothing is sent ahead
  app.post('/v1/procs/:id/carry-ahead', { schema: { params: Id, body: SendRequest } }, async (): Promise<SendResult> => ({ bytes: 0, ms: 0 }));
  app.put('/v1/images/:migrationId/carried', { config: { moveCredential: true } }, async () => ({ bytes: 0 }));

  app.delete('/v1/images/:migrationId', { schema: { params: Mid } }, async (req, reply) => {
    state.credentials.revoke(Number(req.params.migrationId));
    images.delete(Number(req.params.migrationId));
    return reply.code(204).send();
  });

  app.post('/v1/procs/:id/restore', { schema: { params: Id, body: RestoreRequest } }, async (req): Promise<RestoreResult> => {
    failWith(state, 'restore');
    const id = Number(req.params.id);
    const img = images.get(req.body.migrationId);
    if (!img || img.id !== id) throw new GodwitError('GODWIT_ERR_NOT_FOUND', `${name} holds no images of process ${id} for migration ${req.body.migrationId}`);
    if (state.epochs.has(`${id}:${req.body.epoch}`)) {
      throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `process ${id} already has epoch ${req.body.epoch} on ${name}`);
    }
    const e = newEpoch(state, id, req.body.epoch, req.body.inodes);
    if (req.body.closedOutput) e.closed = req.body.closedOutput;
    return { rootPid: e.proc.rootPid, pid: e.proc.pid, inodes: e.proc.inodes, restoredAt: Date.now(), restoreMs: 3 };
  });

  app.get('/v1/images/:migrationId/lazy', { schema: { params: Mid, querystring: LazyStatusQuery } }, async (req): Promise<LazyStatus> => {
    const mid = Number(req.params.migrationId);
    if (!images.get(mid)?.lazy) throw new GodwitError('GODWIT_ERR_NOT_FOUND', `${name} holds no lazy migration ${mid}`);
    return state.lazy.get(mid) ?? { running: false, ok: true, onDemandBytes: 1024, backgroundBytes: IMAGE_BYTES - 1024, reason: null, endedAt: Date.now() };
  });

  app.post('/v1/procs/:id/finish', { schema: { params: Id, body: MigrationRef } }, async (req): Promise<FinishResult> => {
    const e = stoppedCopy(state, Number(req.params.id), req.body.migrationId);
    if (!e) return { unread: '', stdinClosed: false };
    end(e, null, null, true);
    return { unread: Buffer.concat(e.stdin).toString('base64'), stdinClosed: e.eof };
  });

  app.post('/v1/procs/:id/resume', { schema: { params: Id, body: MigrationRef } }, async (req, reply) => {
    const e = stoppedCopy(state, Number(req.params.id), req.body.migrationId);
    if (e) {
      e.proc.state = 'running';
      images.delete(req.body.migrationId);
    }
    return reply.code(204).send();
  });
};
