/**
 * Files sealed with the cluster key: every checkpoint file, and every images stream one agent
 * sends another. AES-256-GCM, streamed in segments of SEGMENT bytes, each with its own nonce and
 * tag; the segment's index and whether it is the last are bound to it (as additional data), so
 * segments cannot be reordered, dropped, cut short or spliced in from elsewhere.
 *
 * Each file has its own random key, wrapped (AES-256-GCM) by a key derived (HKDF-SHA256) from the
 * cluster key, the file's random salt and its context (which checkpoint of whose it is: a
 * checkpoint's path under the checkpoint directory begins with its owner's name). A file put in
 * the place of another (another user's, another checkpoint) does not unwrap there.
 *
 * With encryption off (agent config encryptAtRest: false) the segments are written in clear and
 * authenticated alone (GCM over them as additional data, i.e. GMAC): one mechanism either way,
 * the choice bound in the header, so a file cannot be passed off as the other kind. So is
 * compression (compression.ts): what is sealed is then LZ4 frames of the bytes, decompressed only
 * once their segment verified; a file from before compression (no flag) opens as it always did.
 *
 * Layout: HEADER_BYTES of header (MAGIC, flags, segment size, salt, wrapped key and its tag),
 * then segments of SEGMENT bytes (the last shorter, possibly empty), each followed by its tag.
 * What it gives away: its size, hence the size of what it holds, nothing more.
 *
 * A segment's bytes are passed on only once its tag verified; a file cut short at a segment's
 * end fails at its end (its last segment was not written as the last), so whoever unpacks what
 * `opened` yields keeps it aside until the stream ended without error.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { Transform } from 'node:stream';
import { Compressor, Decompressor } from './compression.js';

export const MAGIC = Buffer.from('GODWAR01', 'latin1');
/** big segments: the per-segment work (a cipher's set-up, one tag) is lost in the bytes */
export const SEGMENT = 1 << 20;
const TAG = 16;
const SALT = 16;
const FILE_KEY = 32;
/** magic, flags, segment size, salt: the part of the header bound to the wrapped key */
const BOUND = MAGIC.length + 1 + 4 + SALT;
export const HEADER_BYTES = BOUND + FILE_KEY + TAG;
const ENCRYPTED = 1;
const COMPRESSED = 2;

export const NOT_SEALED = 'it is not a file godwit sealed (it was not written by godwit, or it was cut short)';
export const NOT_OURS = "it was not sealed by this cluster for this place: it is another user's or another checkpoint's file (or another move's images) put here, or its header was changed";
export const NOT_RECORDED = "it is not the file godwit recorded when it was taken: it was replaced by another file (an older checkpoint, or another user's)";
export const CUT_SHORT = 'it was cut short: its last segment is missing';
export const segmentBroken = (index: number) => `its segment ${index} does not verify: it was changed, moved, or put there from another file`;

export interface SealKey {
  /** the cluster key (cluster-key.ts) */
  key: Buffer;
  /** what the file is (bound: it opens only for the same context) */
  context: string;
}

/** the key that wraps a file's key: the cluster key's, for this salt and context */
function wrappingKey({ key, context }: SealKey, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', key, salt, `godwit at-rest 1\0${context}`, FILE_KEY));
}

/** the nonce of segment i: unique per key, and every file key is used for one file */
function nonceOf(index: number): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(BigInt(index), 4);
  return nonce;
}

function boundOf(index: number, last: boolean): Buffer {
  const aad = Buffer.alloc(9);
  aad.writeBigUInt64BE(BigInt(index), 0);
  aad[8] = last ? 1 : 0;
  return aad;
}

/** the file's id as godwit records it: SHA-256 of its header (its salt and wrapped key are random) */
const idOf = (header: Buffer): string => createHash('sha256').update(header).digest('hex');

/**
 * What the cipher is fed at a time: a segment's bytes in pieces this large, each output a piece
 * as large, all from malloc's reused heap, where a whole segment's output would be a fresh
 * mapping (its pages faulted in) every time
 */
const PIECE = 1 << 16;

/** Bytes queued as they come, taken off the front as pieces of at most PIECE bytes, none copied. */
class Queue {
  private parts: Buffer[] = [];
  bytes = 0;

  push(chunk: Buffer): void {
    this.parts.push(chunk);
    this.bytes += chunk.length;
  }

  take(n: number): Buffer[] {
    const out: Buffer[] = [];
    this.bytes -= n;
    while (n > 0) {
      const head = this.parts[0]!;
      const size = Math.min(n, head.length, PIECE);
      out.push(head.subarray(0, size));
      n -= size;
      if (size === head.length) this.parts.shift();
      else this.parts[0] = head.subarray(size);
    }
    return out;
  }
}

/** segment i of plain (its pieces), sealed: its pieces (encrypted, or as they are), then its tag */
function sealSegment(fileKey: Buffer, encrypt: boolean, index: number, last: boolean, plain: Buffer[]): Buffer[] {
  const cipher = createCipheriv('aes-256-gcm', fileKey, nonceOf(index));
  cipher.setAAD(boundOf(index, last));
  const out = encrypt ? plain.map((piece) => cipher.update(piece)) : plain;
  if (!encrypt) for (const piece of plain) cipher.setAAD(piece);
  cipher.final();
  out.push(cipher.getAuthTag());
  return out;
}

/** the plain pieces of a sealed segment (its pieces, tag last); undefined when its tag does not verify as segment i */
function openSegment(fileKey: Buffer, encrypt: boolean, index: number, last: boolean, body: Buffer[], tag: Buffer): Buffer[] | undefined {
  const decipher = createDecipheriv('aes-256-gcm', fileKey, nonceOf(index));
  decipher.setAuthTag(tag);
  decipher.setAAD(boundOf(index, last));
  try {
    const plain = encrypt ? body.map((piece) => decipher.update(piece)) : body;
    if (!encrypt) for (const piece of body) decipher.setAAD(piece);
    decipher.final();
    return plain;
  } catch {
    return undefined;
  }
}

export interface Sealer {
  /** plain bytes in, the sealed file out */
  stream: Transform;
  /** the file's id (what godwit records), known from the start */
  id: string;
  /** the plain bytes taken so far (with compress, more than are sealed) */
  plainBytes(): number;
}

/**
 * Seals what goes through: encrypted unless encrypt is false (then authenticated only);
 * compressed first where compress is true.
 */
export function sealing(sealKey: SealKey, encrypt: boolean, compress = false): Sealer {
  const fileKey = randomBytes(FILE_KEY);
  const salt = randomBytes(SALT);
  const bound = Buffer.alloc(BOUND);
  MAGIC.copy(bound);
  bound[MAGIC.length] = (encrypt ? ENCRYPTED : 0) | (compress ? COMPRESSED : 0);
  bound.writeUInt32BE(SEGMENT, MAGIC.length + 1);
  salt.copy(bound, MAGIC.length + 5);
  // the wrapping key is this file's alone (its salt): one nonce is enough
  const wrap = createCipheriv('aes-256-gcm', wrappingKey(sealKey, salt), Buffer.alloc(12));
  wrap.setAAD(bound);
  const wrapped = Buffer.concat([wrap.update(fileKey), wrap.final(), wrap.getAuthTag()]);
  const header = Buffer.concat([bound, wrapped]);

  const held = new Queue();
  const compressor = compress ? new Compressor() : undefined;
  let plainBytes = 0;
  let index = 0;
  const out = (self: Transform, plain: Buffer[], last: boolean) => {
    if (index === 0) self.push(header);
    for (const piece of sealSegment(fileKey, encrypt, index++, last, plain)) self.push(piece);
  };
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      plainBytes += chunk.length;
      const taking = compressor ? compressor.push(chunk) : Promise.resolve([chunk]);
      taking.then((parts) => {
        for (const part of parts) held.push(part);
        // a segment goes out once more is known to follow it: only the last is sealed as last
        while (held.bytes > SEGMENT) out(this, held.take(SEGMENT), false);
        done();
      }, done);
    },
    flush(done) {
      const ending = compressor ? compressor.end() : Promise.resolve([]);
      ending.then((parts) => {
        for (const part of parts) held.push(part);
        while (held.bytes > SEGMENT) out(this, held.take(SEGMENT), false);
        out(this, held.take(held.bytes), true);
        done();
      }, done);
    },
  });
  return { stream, id: idOf(header), plainBytes: () => plainBytes };
}

interface Opened {
  fileKey: Buffer;
  encrypt: boolean;
  compressed: boolean;
  segment: number;
}

/**
 * what is wrong with a file's header (read first, before any of its segments), or its file key:
 * recorded, the id godwit recorded where it recorded one (images sent between agents carry none)
 */
export function openHeader(header: Buffer, sealKey: SealKey, recorded?: string): { problem: string } | Opened {
  if (header.length !== HEADER_BYTES || !header.subarray(0, MAGIC.length).equals(MAGIC)) return { problem: NOT_SEALED };
  const flags = header[MAGIC.length]!;
  const segment = header.readUInt32BE(MAGIC.length + 1);
  if ((flags & ~(ENCRYPTED | COMPRESSED)) !== 0 || segment < 4096 || segment > 1 << 26) return { problem: NOT_SEALED };
  if (recorded !== undefined) {
    const other = Buffer.from(recorded, 'hex');
    const id = Buffer.from(idOf(header), 'hex');
    if (other.length !== id.length || !timingSafeEqual(other, id)) return { problem: NOT_RECORDED };
  }
  const salt = header.subarray(MAGIC.length + 5, BOUND);
  const unwrap = createDecipheriv('aes-256-gcm', wrappingKey(sealKey, salt), Buffer.alloc(12));
  unwrap.setAAD(header.subarray(0, BOUND));
  unwrap.setAuthTag(header.subarray(BOUND + FILE_KEY));
  try {
    const fileKey = Buffer.concat([unwrap.update(header.subarray(BOUND, BOUND + FILE_KEY)), unwrap.final()]);
    return { fileKey, encrypt: (flags & ENCRYPTED) !== 0, compressed: (flags & COMPRESSED) !== 0, segment };
  } catch {
    return { problem: NOT_OURS };
  }
}

/**
 * The plain bytes of a sealed stream, a segment at a time, each passed on only once it verified
 * (and decompressed, where it was sealed compressed); throws fail(why) at the first thing wrong
 * (at the end for a stream cut short at a segment's end).
 */
export async function* opened(source: AsyncIterable<Buffer>, sealKey: SealKey, recorded: string | undefined, fail: (why: string) => Error): AsyncGenerator<Buffer> {
  let decompressor: Decompressor | undefined;
  for await (const segment of verified(source, sealKey, recorded, fail, (file) => {
    if (file.compressed) decompressor = new Decompressor(fail);
  })) {
    yield* decompressor ? decompressor.push(segment) : segment;
  }
  decompressor?.end();
}

/** the sealed stream's segments (each its plain pieces) once each verified; header: told the file's header before any */
async function* verified(source: AsyncIterable<Buffer>, sealKey: SealKey, recorded: string | undefined, fail: (why: string) => Error, header: (file: Opened) => void): AsyncGenerator<Buffer[]> {
  const queue = new Queue();
  let file: Opened | undefined;
  let index = 0;
  const segmentOf = (bytes: number) => {
    const body = queue.take(bytes - TAG);
    return { body, tag: Buffer.concat(queue.take(TAG)) };
  };
  for await (const chunk of source) {
    queue.push(chunk);
    if (!file) {
      if (queue.bytes < HEADER_BYTES) continue;
      const opening = openHeader(Buffer.concat(queue.take(HEADER_BYTES)), sealKey, recorded);
      if ('problem' in opening) throw fail(opening.problem);
      file = opening;
      header(file);
    }
    // a segment is opened once more is known to follow it: it is not the last
    while (queue.bytes > file.segment + TAG) {
      const { body, tag } = segmentOf(file.segment + TAG);
      const plain = openSegment(file.fileKey, file.encrypt, index, false, body, tag);
      if (!plain) throw fail(segmentBroken(index));
      index++;
      yield plain;
    }
  }
  if (!file) throw fail(NOT_SEALED);
  const size = queue.bytes;
  if (size < TAG) throw fail(CUT_SHORT);
  const { body, tag } = segmentOf(size);
  const plain = openSegment(file.fileKey, file.encrypt, index, true, body, tag);
  if (plain) {
    yield plain;
    return;
  }
  // a whole segment that verifies as one followed by more: what followed was cut off
  throw fail(size === file.segment + TAG && openSegment(file.fileKey, file.encrypt, index, false, body, tag) ? CUT_SHORT : segmentBroken(index));
}
