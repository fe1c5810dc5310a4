/**
 * Output frames, as the keeper writes them and the agent serves them: one type byte, a 32-bit
 * little-endian length, the payload. 'o' stdout, 'e' stderr, 'x' the epoch's end (JSON EpochEnd).
 */
export type FrameType = 'o' | 'e' | 'x';
export interface Frame {
  type: FrameType;
  data: Buffer;
}

export const FRAME_HEADER = 5;

export function encodeFrame(type: FrameType, data: Buffer): Buffer {
  const head = Buffer.alloc(FRAME_HEADER);
  head.write(type, 0, 'latin1');
  head.writeUInt32LE(data.length, 1);
  return Buffer.concat([head, data]);
}

/** Splits a byte stream into frames; keeps a partial frame until the rest arrives. */
export class FrameDecoder {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const frames: Frame[] = [];
    let at = 0;
    while (this.pending.length - at >= FRAME_HEADER) {
      const len = this.pending.readUInt32LE(at + 1);
      if (this.pending.length - at < FRAME_HEADER + len) break;
      const type = String.fromCharCode(this.pending[at]!) as FrameType;
      frames.push({ type, data: this.pending.subarray(at + FRAME_HEADER, at + FRAME_HEADER + len) });
      at += FRAME_HEADER + len;
    }
    this.pending = this.pending.subarray(at);
    return frames;
  }

  /** bytes of a frame begun but not complete */
  get partial(): number {
    return this.pending.length;
  }
}
