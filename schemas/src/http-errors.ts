/**
 * How the orchestrator's and the agents' HTTP servers answer with an error: always
 * GodwitError.toBody() (a stable code, a message, never a stack). Not in the package's index, so
 * that the CLI never loads it.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import { GodwitError, toGodwitError } from './errors.js';
import { drainUnreadBodies } from './unread-body.js';

/**
 * Fastify options both servers are made with. ajv: Fastify's own default removes properties a
 * closed schema does not know and goes on; godwit refuses them (400), so that a misspelt or
 * foreign field is seen, not silently dropped. frameworkErrors: a URL that does not decode
 * (`%zz`) is refused before any route, where setErrorHandler does not reach; it is answered in
 * the one shape too.
 */
export const SERVER_OPTIONS = {
  ajv: { customOptions: { removeAdditional: false as const } },
  frameworkErrors: (err: Error, _req: FastifyRequest, reply: FastifyReply) => {
    const e = toGodwitError(err);
    const answer = e.statusCode < 500 ? new GodwitError('GODWIT_ERR_BAD_REQUEST', e.message) : new GodwitError('GODWIT_ERR_INTERNAL', 'internal error');
    void reply.code(answer.statusCode).type('application/json').send(answer.toBody());
  },
} satisfies Pick<FastifyServerOptions, 'ajv' | 'frameworkErrors'>;

/**
 * `service` names the server in the message of an internal error, whose own words stay in its log.
 * An error answered before its request's body has all come reaches the client too (unread-body.ts).
 */
export function installErrorHandler(app: FastifyInstance, service: string): void {
  drainUnreadBodies(app);
  app.setErrorHandler((err, req, reply) => {
    const e = toGodwitError(err);
    if (e.statusCode >= 500) req.log.error({ err }, e.message);
    else req.log.info({ code: e.code }, e.message);
    // an unforeseen failure's message may name what only the server should see (paths, internals)
    const answer = err instanceof GodwitError || e.statusCode < 500 ? e : new GodwitError('GODWIT_ERR_INTERNAL', `internal error in ${service}; its log has the details`);
    return reply.code(answer.statusCode).type('application/json').send(answer.toBody());
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).type('application/json').send(new GodwitError('GODWIT_ERR_NOT_FOUND', `no route ${req.method} ${req.url}`).toBody()),
  );
}
