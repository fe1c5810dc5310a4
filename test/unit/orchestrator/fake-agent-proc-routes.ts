/**
 * The fake agent's routes of a program's runs: launch, list, output, epochs, input, signals,
 * what would keep it from moving, and its control directory. Paths, bodies and answers are the
 * real agent's (agent/src/routes.ts, control-routes.ts), checked against the same schemas.
 */
import { PassThrough } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import {
  type AgentProc,
  CloseStreamsRequest,
  ControlUpdate,
  GodwitError,
  LaunchRequest,
  type ProcInspection,
  SignalRequest,
  TakenRequest,
} from '@godwit/schemas';
import { end, epochOf, failWith, type FakeState, newEpoch, newInodes, running } from './fake-agent-state.js';

export const Id = Type.Object({ id: Type.String({ pattern: '^[0-9]+$' }) });
const IdEpoch = Type.Object({ id: Type.String({ pattern: '^[0-9]+$' }), epoch: Type.String({ pattern: '^[0-9]+$' }) });

export const fakeProcRoutes: FastifyPluginAsyncTypebox<{ state: FakeState; streams: Set<PassThrough> }> = async (app, { state, streams }) => {
  const { name, epochs } = state;

  app.post('/v1/procs', { schema: { body: LaunchRequest } }, async (req, reply) => {
    failWith(state, 'launch');
    const e = newEpoch(state, req.body.id, 0, newInodes());
    e.launch = req.body;
    return reply.code(201).send(e.proc);
  });

  app.get('/v1/procs', async (): Promise<AgentProc[]> => [...epochs.values()].map((e) => e.proc));

  app.get('/v1/procs/:id/output', {
    schema: { params: Id, querystring: Type.Object({ epoch: Type.Integer({ minimum: 0 }), offset: Type.Integer({ minimum: 0 }) }) },
  }, async (req, reply) => {
    failWith(state, 'output');
    const e = epochOf(state, Number(req.params.id), req.query.epoch);
    if (!e) throw new GodwitError('GODWIT_ERR_PROCESS_NOT_FOUND', `${name} has no output of process ${req.params.id} epoch ${req.query.epoch}`);
    // asked from here, it has stored all before for good
    e.taken = req.query.offset;
    const out = new PassThrough();
    let sent = req.query.offset;
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
  });

  app.get('/v1/procs/:id/epochs/:epoch', { schema: { params: IdEpoch } }, async (req): Promise<AgentProc> => {
    const e = epochOf(state, Number(req.params.id), Number(req.params.epoch));
    if (!e) throw new GodwitError('GODWIT_ERR_PROCESS_NOT_FOUND', `${name} has no epoch ${req.params.epoch} of process ${req.params.id}`);
    return e.proc;
  });

  app.post('/v1/procs/:id/epochs/:epoch/taken', { schema: { params: IdEpoch, body: TakenRequest } }, async (req, reply) => {
    const e = epochOf(state, Number(req.params.id), Number(req.params.epoch));
    if (e) e.taken = req.body.offset;
    return reply.code(204).send();
  });

  app.post('/v1/procs/:id/output/close', { schema: { params: Id, body: CloseStreamsRequest } }, async (req, reply) => {
    running(state, Number(req.params.id)).closed = req.body.streams;
    return reply.code(204).send();
  });

  app.delete('/v1/procs/:id/epochs/:epoch', { schema: { params: IdEpoch } }, async (req, reply) => {
    const e = epochOf(state, Number(req.params.id), Number(req.params.epoch));
    if (e && e.proc.state === 'running') {
      throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `process ${req.params.id} epoch ${req.params.epoch} still runs on ${name}`);
    }
    epochs.delete(`${req.params.id}:${req.params.epoch}`);
    return reply.code(204).send();
  });

  app.post('/v1/procs/:id/stdin', {
    schema: { params: Id, querystring: Type.Object({ eof: Type.Optional(Type.Boolean()) }) },
  }, async (req, reply) => {
    const e = running(state, Number(req.params.id));
    if (Buffer.isBuffer(req.body)) e.stdin.push(req.body);
    if (req.query.eof) e.eof = true;
    return reply.code(204).send();
  });

  app.post('/v1/procs/:id/signal', { schema: { params: Id, body: SignalRequest } }, async (req, reply) => {
    const e = running(state, Number(req.params.id));
    e.signals.push(req.body.signal);
    if (req.body.signal === 'SIGKILL' || req.body.signal === 'SIGTERM') end(e, null, req.body.signal, false);
    return reply.code(204).send();
  });

  // a small program that nothing keeps from moving: auto copies it whole, or moves it lazily where both nodes can
  app.get('/v1/procs/:id/blockers', { schema: { params: Id } }, async (req): Promise<ProcInspection> => {
    running(state, Number(req.params.id));
    return { reasons: [], lazyReasons: [], residentBytes: 1 << 20, copyOnWriteExtraBytes: 0, carry: { files: [], carriedBytes: 0, limitBytes: 256 << 20, ghostLimitBytes: 1 << 20, refusal: null } };
  });

  app.put('/v1/procs/:id/control', { schema: { params: Id, body: ControlUpdate } }, async (req, reply) => {
    const e = running(state, Number(req.params.id));
    e.control = req.body;
    return reply.code(204).send();
  });
};
