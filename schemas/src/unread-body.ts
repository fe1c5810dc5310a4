/**
 * An answer given before its request's body has all come (a refused credential, a body too large,
 * images whose seal fails part-way) must still reach the client. Closing the connection with
 * request bytes unread makes the kernel send a reset, which throws away the answer still in
 * flight and fails the client's pending write: over TLS the client then saw ECONNRESET instead of
 * the error. Fastify asks for that close (`Connection: close`) after a body it refused; a route
 * that stopped reading its stream part-way destroyed the request, after which Node reads no more
 * of the connection and the upload hung until the server closed it, with a reset.
 *
 * So the rest of such a body is read and thrown away after the answer, and the connection lives
 * on for the next request; a client that goes on sending past UNREAD_BODY_MS is cut off then (it
 * has had its answer for that long).
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';

/** how long after an early answer the rest of its request's body may take to arrive */
export const UNREAD_BODY_MS = 10_000;

export function drainUnreadBodies(app: FastifyInstance, graceMs = UNREAD_BODY_MS): void {
  app.addHook('onSend', async (req, reply, payload) => {
    if (!req.raw.complete && reply.getHeader('connection') === 'close') reply.removeHeader('connection');
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    const body = req.raw;
    const socket = reply.raw.socket ?? body.socket;
    if (body.complete || !socket) return;
    if (body.destroyed) {
      // no reading of it can follow (a route's stream that was not unowned): close rather than hang
      socket.destroy();
      return;
    }
    const cutOff = setTimeout(() => socket.destroy(), graceMs);
    const done = () => clearTimeout(cutOff);
    body.once('end', done);
    body.once('close', done);
    socket.once('close', done);
    body.resume();
  });
}

/**
 * The request's body as a stream a route may stop reading or destroy (a pipeline that fails does)
 * without destroying the request: what it leaves is then read away by drainUnreadBodies.
 */
export function unownedBody(body: Readable): Readable {
  return Readable.from(body.iterator({ destroyOnReturn: false }), { objectMode: false });
}
