/**
 * Sends an images tar stream to another agent's PUT /v1/images/MIGRATION, with an HMAC trailer
 * (as a checkpoint file's, archive-mac.ts) that the receiver verifies over the very bytes it
 * extracts.
 */
import { type Agent, request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { pipeline } from 'node:stream/promises';
import type tar from 'tar-stream';
import { GodwitError, parseApiError } from '@godwit/schemas';
import { signing } from './archive-mac.js';
import { coalesced } from './image-archive.js';

/**
 * Streams pack to the agent at `to`; returns the bytes the destination counts it holds. `agent`:
 * for an https `to`, the one that shows this node's certificate (clientAgent).
 */
export async function sendImages(pack: tar.Pack, key: Buffer, migrationId: number, to: { url: string; token: string }, agent?: Agent): Promise<number> {
  const url = new URL(`/v1/images/${migrationId}`, to.url);
  const req = (url.protocol === 'https:' ? httpsRequest : request)(url, {
    method: 'PUT',
    ...(agent ? { agent } : {}),
    headers: { authorization: `Bearer ${to.token}`, 'content-type': 'application/x-tar' },
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
  // signed before coalescing: the trailer goes out in the same write as the tar's end
  const streamed = pipeline(pack, signing(key).stream, coalesced, req);
  try {
    const [, res] = await Promise.all([streamed, reply]);
    if (res.status >= 300) {
      const body = parseApiError(res.body);
      throw body ? GodwitError.fromBody(body) : new Error(`HTTP ${res.status}: ${res.body.slice(0, 200)}`);
    }
    // the destination counts what it holds, pages from a page server included
    return (JSON.parse(res.body) as { bytes: number }).bytes;
  } catch (err) {
    pack.destroy();
    req.destroy();
    const [sending] = await Promise.allSettled([streamed, reply]);
    // the images' own refusal (their seal) says more than the request it cut short
    const cause = sending.status === 'rejected' && sending.reason instanceof GodwitError ? sending.reason : err;
    if (cause instanceof GodwitError) throw cause;
    throw new GodwitError('GODWIT_ERR_TRANSFER_FAILED', `sending the images of migration ${migrationId} to ${to.url} failed: ${(cause as Error).message}`);
  }
}
