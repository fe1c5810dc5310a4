/** Every error leaves the API as GodwitError.toBody(): a stable code, a message, never a stack. */
import type { FastifyError, FastifyInstance } from 'fastify';
import { GodwitError } from '@godwit/schemas';

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | GodwitError | Error, req, reply) => {
    const e = toGodwitError(err);
    if (e.statusCode >= 500) req.log.error({ err }, e.message);
    else req.log.info({ code: e.code }, e.message);
    return reply.code(e.statusCode).type('application/json').send(e.toBody());
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send(new GodwitError('GODWIT_ERR_NOT_FOUND', `no route ${req.method} ${req.url}`).toBody()),
  );
}

export function toGodwitError(err: unknown): GodwitError {
  if (err instanceof GodwitError) return err;
  const fe = err as Partial<FastifyError> & Error;
  if (fe.validation) {
    // Fastify's message names the part and the field: "body/argv must NOT have fewer than 1 items"
    return new GodwitError('GODWIT_ERR_BAD_REQUEST', `invalid request: ${fe.message}`);
  }
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status === 401) return new GodwitError('GODWIT_ERR_UNAUTHORIZED', fe.message);
  if (status === 404) return new GodwitError('GODWIT_ERR_NOT_FOUND', fe.message);
  if (status >= 400 && status < 500) return new GodwitError('GODWIT_ERR_BAD_REQUEST', fe.message);
  return new GodwitError('GODWIT_ERR_INTERNAL', 'internal error in the orchestrator; its log has the details', undefined, {
    cause: err,
  });
}
