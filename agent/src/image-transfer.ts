/**
 * Sends an images tar stream to another agent's PUT /v1/images/MIGRATION, sealed as a checkpoint
 * file is (at-rest.ts), authenticated only (what protects it on the wire is the connection's
 * business): the receiver verifies each segment before it extracts a byte of it.
 */
import { type Agent, request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type tar from 'tar-stream';
import { GodwitError, parseApiError, type SendRequest } from '@godwit/schemas';
import { sealing, type SealKey } from './at-rest.js';

/** the images of a migration are sealed for it: a stream of another move is refused */
export const transferSeal = (key: Buffer, migrationId: number): SealKey => ({ key, context: `images of migration ${migrationId}` });

/** a pre-copy's files (carry-ahead.ts) are sealed apart from the images: neither stream passes for the other */
export const aheadSeal = (key: Buffer, migrationId: number): SealKey => ({ key, context: `files carried ahead of migration ${migrationId}` });

/**
 * Streams pack (an images tar; ahead: a pre-copy's files) to the agent at `to`, presenting the credential it gave for this move; returns the
 * bytes the destination counts it holds. `agent`: for an https `to`, the one that shows this
 * node's certificate (clientAgent); compress: LZ4 before the seal.
 */
export async function sendImages(
  pack: tar.Pack | Readable,
  key: Buffer,
  migrationId: number,
  to: SendRequest['to'],
  { agent, compress = false, ahead = false }: { agent?: Agent | undefined; compress?: boolean; ahead?: boolean } = {},
): Promise<number> {
  const url = new URL(`/v1/images/${migrationId}${ahead ? '/carried' : ''}`, to.url);
  const req = (url.protocol === 'https:' ? httpsRequest : request)(url, {
    method: 'PUT',
    ...(agent ? { agent } : {}),
    headers: { authorization: `Bearer ${to.credential}`, 'content-type': 'application/x-tar' },
  });
  const reply = new Promise<{ status: number; body: string }>((resolve, reject) => {
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    // a pipeline that fails aborts the request, which then closes without an error
    req.on('close', () => {
      if (!answered) reject(new Error('the request was closed before an answer came'));
    });
  });
  // a destination that goes away mid-stream fails each of these; none may go unobserved
  // sealed in segments of a MiB: the tar's many small pieces go out in writes that large
  const streamed = pipeline(pack, sealing((ahead ? aheadSeal : transferSeal)(key, migrationId), false, compress).stream, req);
  try {
    // a refusal ends the sending at once: the destination reads no more of it
    const answered = reply.then((res) => {
      if (res.status >= 300) throw refusal(res);
      return res;
    });
    const [, res] = await Promise.all([streamed, answered]);
    // the destination counts what it holds, pages from a page server included
    return (JSON.parse(res.body) as { bytes: number }).bytes;
  } catch (err) {
    pack.destroy();
    req.destroy();
    const [sending, answer] = await Promise.allSettled([streamed, reply]);
    // the images' own refusal (their seal) says more than the request it cut short, and the
    // destination's answer (a refused credential, before it read any) more than the broken pipe
    const refused = answer.status === 'fulfilled' && answer.value.status >= 300 ? refusal(answer.value) : undefined;
    const cause = sending.status === 'rejected' && sending.reason instanceof GodwitError ? sending.reason : (refused ?? err);
    if (cause instanceof GodwitError) throw cause;
    throw new GodwitError('GODWIT_ERR_TRANSFER_FAILED', `sending the images of migration ${migrationId} to ${to.url} failed: ${(cause as Error).message}`);
  }
}

/**
 * The destination's refusal as an error of the move: a credential it refused is the move's
 * failure, not the caller's (whose own token was good), and says so.
 */
function refusal(res: { status: number; body: string }): Error {
  const body = parseApiError(res.body);
  if (!body) return new Error(`HTTP ${res.status}: ${res.body.slice(0, 200)}`);
  const e = GodwitError.fromBody(body);
  return e.code === 'GODWIT_ERR_UNAUTHORIZED' ? new GodwitError('GODWIT_ERR_TRANSFER_FAILED', `the destination refused the images: ${e.message}`, e.details) : e;
}
