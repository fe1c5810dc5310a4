/**
 * What a follower says of the program's output: POST /v1/processes/:id/output/close (closed-output.ts)
 * and POST /v1/processes/:id/output/written (output-followers.ts).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { CloseOutputRequest, ErrorBody, IdParam, OutputWrittenRequest } from '@godwit/schemas';
import { closeOutput } from './closed-output.js';
import type { Ctx } from './context.js';
import type { Migrator } from './migration/migrator.js';
import type { OutputFollowers } from './output-followers.js';
import { findProcess } from './processes.js';

export const followerRoutes: FastifyPluginAsyncTypebox<{ ctx: Ctx; migrator: Migrator; followers: OutputFollowers }> = async (app, { ctx, migrator, followers }) => {
  const errors = { '4xx': ErrorBody, '5xx': ErrorBody };

  app.post(
    '/v1/processes/:id/output/close',
    {
      schema: {
        summary: "whoever read this output stream is gone (mosrun's stdout closed): the program's next write to it gets SIGPIPE, wherever it runs",
        params: IdParam,
        body: CloseOutputRequest,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      await closeOutput(ctx, migrator, findProcess(ctx, req.user, req.params.id), req.body.stream);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/processes/:id/output/written',
    {
      schema: {
        summary: "an attached follower has written the program's output up to offset: the program may run that much further ahead",
        params: IdParam,
        body: OutputWrittenRequest,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (req, reply) => {
      followers.written(findProcess(ctx, req.user, req.params.id).id, req.body.offset);
      return reply.code(204).send(null);
    },
  );
};
