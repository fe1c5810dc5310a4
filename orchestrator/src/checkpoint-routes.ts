/** Checkpoints through the API: take one, list them, look into a file, recover from one. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { Checkpoint, CheckpointInfo, CheckpointRequest, Closed, ErrorBody, FILE_PATH_MAX, IdParam, Process, RecoverRequest } from '@godwit/schemas';
import type { Checkpointer } from './checkpoints.js';
import type { Recovery } from './recovery.js';
import type { Ctx } from './context.js';
import { toCheckpoint } from './db/index.js';
import { findProcess } from './processes.js';

const errors = { '4xx': ErrorBody, '5xx': ErrorBody };

export const checkpointRoutes: FastifyPluginAsyncTypebox<{ ctx: Ctx; checkpointer: Checkpointer; recovery: Recovery }> = async (app, { ctx, checkpointer, recovery }) => {
  app.post(
    '/v1/processes/:id/checkpoint',
    {
      schema: {
        summary: 'take a checkpoint (MOSIX mosmigrate checkpoint); then: run on, stop (freeze it: checkstop) or exit',
        params: IdParam,
        body: CheckpointRequest,
        response: { 200: Checkpoint, ...errors },
      },
    },
    async (req) => checkpointer.take(findProcess(ctx, req.user, req.params.id), req.body.then ?? 'run', { compress: req.body.compress }),
  );

  app.get(
    '/v1/processes/:id/checkpoints',
    { schema: { summary: "a process's checkpoint files, oldest first", params: IdParam, response: { 200: Type.Array(Checkpoint), ...errors } } },
    async (req) => ctx.db.q.checkpointsOf.all(findProcess(ctx, req.user, req.params.id).id).map(toCheckpoint),
  );

  app.get(
    '/v1/checkpoints/info',
    {
      schema: {
        summary: 'what a checkpoint file holds: the files its process had open, their sizes then and now (MOSIX mosrun -I)',
        querystring: Closed({ file: Type.String({ minLength: 1, maxLength: FILE_PATH_MAX }) }),
        response: { 200: CheckpointInfo, ...errors },
      },
    },
    async (req) => recovery.info(req.user, req.query.file),
  );

  app.post(
    '/v1/checkpoints/recover',
    {
      schema: {
        summary: 'recover a program from a checkpoint file, on any node, as a new process (MOSIX mosrun -R, -O)',
        body: RecoverRequest,
        response: { 201: Process, ...errors },
      },
    },
    async (req, reply) => reply.code(201).send(await recovery.recover(req.user, req.body)),
  );
};
