/**
 * What a follower says of the program's output: POST /v1/processes/:id/output/close (closed-output.ts)
 * and POST /v1/processes/:id/output/written (output-followers.ts).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type, { type Static, type TSchema } from 'typebox';
import { CloseOutputRequest, ErrorBody, IdParam, OutputWrittenRequest } from '@godwit/schemas';
import { closeOutput } from './closed-output.js';
import type { Ctx } from './context.js';
import type { ProcessRow } from './db/index.js';
import type { Migrator } from './migration/migrator.js';
import type { OutputFollowers } from './output-followers.js';
import { findProcess } from './processes.js';

export const followerRoutes: FastifyPluginAsyncTypebox<{ ctx: Ctx; migrator: Migrator; followers: OutputFollowers }> = async (app, { ctx, migrator, followers }) => {
  /** POST /v1/processes/:id/output/<what>: a follower's report on the process, taken by `take`; answered 204 */
  function report<B extends TSchema>(what: string, summary: string, body: B, take: (proc: ProcessRow, body: Static<B>) => unknown): void {
    app.post(
      `/v1/processes/:id/output/${what}`,
      { schema: { summary, params: IdParam, body, response: { 204: Type.Null(), '4xx': ErrorBody, '5xx': ErrorBody } } },
      async (req, reply) => {
        await take(findProcess(ctx, req.user, req.params.id), req.body as Static<B>);
        return reply.code(204).send(null);
      },
    );
  }

  report(
    'close',
    "whoever read this output stream is gone (mosrun's stdout closed): the program's next write to it gets SIGPIPE, wherever it runs",
    CloseOutputRequest,
    (proc, body) => closeOutput(ctx, migrator, proc, body.stream),
  );
  report(
    'written',
    "an attached follower has written the program's output up to offset: the program may run that much further ahead",
    OutputWrittenRequest,
    (proc, body) => followers.written(proc.id, body.offset),
  );
};
