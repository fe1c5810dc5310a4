/** POST /v1/processes/:id/output/close: the REST side of closed-output.ts. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import { CloseOutputRequest, ErrorBody, IdParam } from '@godwit/schemas';
import { closeOutput } from './closed-output.js';
import type { Ctx } from './context.js';
import type { Migrator } from './migration.js';
import { findProcess } from './processes.js';

export const closedOutputRoute: FastifyPluginAsyncTypebox<{ ctx: Ctx; migrator: Migrator }> = async (app, { ctx, migrator }) => {
  app.post(
    '/v1/processes/:id/output/close',
    {
      schema: {
        summary: "whoever read this output stream is gone (mosrun's stdout closed): the program's next write to it gets SIGPIPE, wherever it runs",
        params: IdParam,
        body: CloseOutputRequest,
        response: { 204: Type.Null(), '4xx': ErrorBody, '5xx': ErrorBody },
      },
    },
    async (req, reply) => {
      await closeOutput(ctx, migrator, findProcess(ctx, req.user, req.params.id), req.body.stream);
      return reply.code(204).send(null);
    },
  );
};
