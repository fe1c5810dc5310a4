/** The REST side of kept-output.ts: the orchestrator stores and reads a home process's output. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ErrorAnswers, IdParam, KeptAppendQuery, KeptLayout, KeptReadQuery, KeptReadResult } from '@godwit/schemas';
import type { KeptOutput } from './kept-output.js';

const FRAMES_BODY_LIMIT = 64 * 1024 * 1024;

export const keptRoutes: FastifyPluginAsyncTypebox<{ kept: KeptOutput }> = async (app, { kept }) => {
  if (!app.hasContentTypeParser('application/octet-stream')) {
    app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: FRAMES_BODY_LIMIT }, (_req, body, done) => done(null, body));
  }

  app.post('/v1/kept/:id', { schema: { params: IdParam, querystring: KeptAppendQuery, response: { 200: KeptLayout, ...ErrorAnswers } } }, async (req) =>
    kept.append(Number(req.params.id), req.query, (req.body as Buffer | undefined) ?? Buffer.alloc(0)),
  );

  app.get('/v1/kept/:id', { schema: { params: IdParam, querystring: KeptReadQuery, response: { 200: KeptReadResult, ...ErrorAnswers } } }, async (req) =>
    kept.read(Number(req.params.id), req.query),
  );
};
