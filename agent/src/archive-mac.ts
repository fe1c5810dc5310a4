/**
 * The MAC every checkpoint file carries: HMAC-SHA256, with the cluster key, of the tar before it,
 * in a trailer after the tar (the 32-byte tag, then GODWMAC1), so a file can be checked on its
 * own, and its tag compared with the one the orchestrator recorded when it was taken (a valid but
 * older checkpoint of the same process, copied over a newer one, is caught that way). Images sent
 * from one agent to another carry the same trailer, checked against nothing recorded.
 *
 * Only the bytes that were verified may be used: `verified` hands the tar on as it reads it and
 * fails at the end if the tag does not match, so whoever unpacks it must keep what it unpacked
 * aside until the stream has ended without error.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Transform } from 'node:stream';

export const MAC_MAGIC = Buffer.from('GODWMAC1', 'latin1');
const TAG_BYTES = 32;
export const TRAILER_BYTES = TAG_BYTES + MAC_MAGIC.length;

export const NO_MAC = 'it carries no godwit MAC (it was not written by godwit, or it was cut short)';
export const FORGED = 'not written by this cluster, or changed since: its MAC does not verify';
export const NOT_RECORDED = 'its MAC is not the one godwit recorded when it was taken: it was replaced by another file (an older checkpoint?), or changed since';

export interface Signer {
  /** passes the archive on, then its trailer */
  stream: Transform;
  /** the tag, hex, once the stream has ended */
  tag(): string;
}

export function signing(key: Buffer): Signer {
  const hmac = createHmac('sha256', key);
  let tag: Buffer | undefined;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hmac.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      tag = hmac.digest();
      done(null, Buffer.concat([tag, MAC_MAGIC]));
    },
  });
  return {
    stream,
    tag: () => {
      if (!tag) throw new Error('the archive has not ended: it has no tag yet');
      return tag.toString('hex');
    },
  };
}

/**
 * what is wrong with a trailer read on its own, before the bytes it covers are (the clearer
 * refusal, early); recorded: the tag godwit recorded, where it recorded one (images sent between
 * agents carry theirs only in the stream)
 */
export function trailerProblem(trailer: Buffer, recorded?: string): string | undefined {
  if (trailer.length !== TRAILER_BYTES || !trailer.subarray(TAG_BYTES).equals(MAC_MAGIC)) return NO_MAC;
  return recorded === undefined || sameTag(trailer.subarray(0, TAG_BYTES), recorded) ? undefined : NOT_RECORDED;
}

function sameTag(tag: Buffer, hex: string): boolean {
  const other = Buffer.from(hex, 'hex');
  return other.length === tag.length && timingSafeEqual(tag, other);
}

/**
 * The tar of a signed archive, passed on as it is read; throws fail(why) at the end (after every
 * byte was passed on) unless the trailer's tag is the HMAC of those bytes (and the recorded one,
 * where there is one).
 */
export async function* verified(source: AsyncIterable<Buffer>, key: Buffer, recorded: string | undefined, fail: (why: string) => Error): AsyncGenerator<Buffer> {
  const hmac = createHmac('sha256', key);
  // the last TRAILER_BYTES seen so far: the trailer, once the source ends
  let held = Buffer.alloc(0);
  for await (const chunk of source) {
    if (chunk.length >= TRAILER_BYTES) {
      if (held.length) {
        hmac.update(held);
        yield held;
      }
      const body = chunk.subarray(0, chunk.length - TRAILER_BYTES);
      hmac.update(body);
      yield body;
      held = Buffer.from(chunk.subarray(chunk.length - TRAILER_BYTES));
    } else {
      const both = Buffer.concat([held, chunk]);
      const body = both.subarray(0, Math.max(0, both.length - TRAILER_BYTES));
      if (body.length) {
        hmac.update(body);
        yield body;
      }
      held = both.subarray(body.length);
    }
  }
  const problem = trailerProblem(held, recorded);
  if (problem === NO_MAC) throw fail(NO_MAC);
  if (!timingSafeEqual(hmac.digest(), held.subarray(0, TAG_BYTES))) throw fail(FORGED);
  if (problem) throw fail(problem);
}
