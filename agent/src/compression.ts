/**
 * LZ4 compression of what godwit seals (at-rest.ts): checkpoints, frozen images, images sent
 * between agents. lz4-napi (lz4_flex behind N-API): a native codec several times faster than any
 * JavaScript one, run on libuv's threads while the main thread seals, so on two cores the
 * compression of one block overlaps the encryption of the one before.
 *
 * The plain bytes are cut in blocks of BLOCK bytes, each compressed alone and framed: a 4-byte
 * big-endian word (the frame's length, with STORED set where the block is kept as it was, because
 * LZ4 did not make it smaller: encrypted or random memory costs nothing to decompress), then the
 * frame. A compressed frame is lz4-napi's block: the plain length (4 bytes, little-endian), then
 * LZ4's block.
 *
 * The frames are sealed after they are made, so a reader decompresses only what verified; it
 * still refuses a frame that says more than a block, so no length in a file makes it allocate more.
 */
import { compress, uncompressSync } from 'lz4-napi';

/** plain bytes per frame: large enough for LZ4's window to find the repeats of a page's structures */
export const BLOCK = 1 << 20;
const STORED = 0x8000_0000;
const WORD = 4;
/** the most a compressed frame may be: LZ4's worst case for a block, with lz4-napi's length in front */
const FRAME_MAX = BLOCK + Math.ceil(BLOCK / 255) + 16 + WORD;
/** blocks compressed at once: one on each core, one waiting */
const DEPTH = 3;

/** a block's frame: compressed, or stored where LZ4 gained nothing */
function framed(plain: Buffer, packed: Buffer): Buffer[] {
  const word = Buffer.alloc(WORD);
  if (packed.length >= plain.length) {
    word.writeUInt32BE((plain.length | STORED) >>> 0);
    return [word, plain];
  }
  word.writeUInt32BE(packed.length);
  return [word, packed];
}

/** Plain bytes in, frames out, in order; a few blocks compressed at a time. */
export class Compressor {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private inFlight: Promise<Buffer[]>[] = [];
  /** plain bytes taken */
  plainBytes = 0;

  /** the frames that are ready once chunk is taken (none may be, or several) */
  async push(chunk: Buffer): Promise<Buffer[]> {
    this.plainBytes += chunk.length;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const out: Buffer[] = [];
    while (this.pendingBytes >= BLOCK) {
      const all = Buffer.concat(this.pending);
      this.start(all.subarray(0, BLOCK));
      this.pending = all.length > BLOCK ? [all.subarray(BLOCK)] : [];
      this.pendingBytes = all.length - BLOCK;
      if (this.inFlight.length >= DEPTH) out.push(...(await this.inFlight.shift()!));
    }
    return out;
  }

  /** the frames left, the last block's included */
  async end(): Promise<Buffer[]> {
    if (this.pendingBytes) this.start(Buffer.concat(this.pending));
    this.pending = [];
    this.pendingBytes = 0;
    const out: Buffer[] = [];
    for (const frames of await Promise.all(this.inFlight.splice(0))) out.push(...frames);
    return out;
  }

  private start(block: Buffer): void {
    this.inFlight.push(compress(block).then((packed) => framed(block, packed)));
  }
}

/**
 * Frames in (as they come, cut anywhere), plain blocks out. Throws fail(why) at a frame that is
 * not one; end() throws where the frames stop part-way through one.
 */
export class Decompressor {
  private parts: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly fail: (why: string) => Error) {}

  push(pieces: readonly Buffer[]): Buffer[] {
    for (const piece of pieces) {
      this.parts.push(piece);
      this.bytes += piece.length;
    }
    const out: Buffer[] = [];
    for (;;) {
      if (this.bytes < WORD) break;
      const head = this.parts[0]!.length >= WORD ? this.parts[0]! : Buffer.concat(this.parts);
      const word = head.readUInt32BE(0);
      const stored = (word & STORED) !== 0;
      const size = word & ~STORED;
      if (size === 0 || size > (stored ? BLOCK : FRAME_MAX)) throw this.fail(`its compressed frame of ${size} bytes is not one godwit writes`);
      if (this.bytes < WORD + size) break;
      const all = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
      const frame = all.subarray(WORD, WORD + size);
      out.push(stored ? frame : this.unpack(frame));
      const rest = all.subarray(WORD + size);
      this.parts = rest.length ? [rest] : [];
      this.bytes = rest.length;
    }
    return out;
  }

  end(): void {
    if (this.bytes) throw this.fail(`its compressed data stops ${this.bytes} bytes into a frame`);
  }

  private unpack(frame: Buffer): Buffer {
    const plain = frame.length >= WORD ? frame.readUInt32LE(0) : 0;
    if (plain === 0 || plain > BLOCK) throw this.fail(`its compressed frame says it holds ${plain} bytes, not a block godwit writes`);
    try {
      return uncompressSync(frame);
    } catch (err) {
      throw this.fail(`its compressed frame does not decompress: ${(err as Error).message}`);
    }
  }
}
