/**
 * Just enough of protobuf's wire format to read a few fields of CRIU's images without generated
 * code or a dependency: the fields of one message, in order, unknown ones kept but not decoded.
 * It reads what CRIU's own parser (protobuf-c) would take from the same bytes, so that what godwit
 * checks is what CRIU restores: a varint stands for its low 32 bits, as protobuf-c reads a uint32.
 */
export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;

export interface WireField {
  field: number;
  wire: number;
  /** a varint's low 32 bits, unsigned; 0 for other wire types */
  u32: number;
  /** a length-delimited field's bytes; empty for other wire types */
  bytes: Buffer;
}

/** the reason bytes are no protobuf message (the caller says whose) */
export class WireFormatError extends Error {}

interface Varint {
  u32: number;
  /** the whole value, exact up to 2^53: enough to bound a length */
  whole: number;
  next: number;
}

function readVarint(buf: Buffer, pos: number): Varint {
  let u32 = 0;
  let whole = 0;
  for (let i = 0; i < 10; i++) {
    const b = buf[pos + i];
    if (b === undefined) throw new WireFormatError(`a varint runs past the end, at byte ${pos}`);
    if (i < 5) u32 = (u32 | ((b & 0x7f) << (7 * i))) >>> 0;
    whole += (b & 0x7f) * 2 ** (7 * i);
    if (!(b & 0x80)) return { u32, whole, next: pos + i + 1 };
  }
  throw new WireFormatError(`a varint longer than 10 bytes, at byte ${pos}`);
}

export function readMessage(buf: Buffer): WireField[] {
  const fields: WireField[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const key = readVarint(buf, pos);
    const field = Math.floor(key.whole / 8);
    const wire = key.whole % 8;
    if (field === 0) throw new WireFormatError(`field number 0, at byte ${pos}`);
    pos = key.next;
    let u32 = 0;
    let bytes: Buffer = Buffer.alloc(0);
    if (wire === WIRE_VARINT) {
      const v = readVarint(buf, pos);
      u32 = v.u32;
      pos = v.next;
    } else if (wire === WIRE_BYTES) {
      const len = readVarint(buf, pos);
      if (len.next + len.whole > buf.length) throw new WireFormatError(`field ${field} is ${len.whole} bytes long, past the end of its message`);
      bytes = buf.subarray(len.next, len.next + len.whole);
      pos = len.next + len.whole;
    } else if (wire === WIRE_FIXED64 || wire === WIRE_FIXED32) {
      pos += wire === WIRE_FIXED64 ? 8 : 4;
      if (pos > buf.length) throw new WireFormatError(`field ${field} runs past the end of its message`);
    } else {
      throw new WireFormatError(`field ${field} has wire type ${wire}, which CRIU's images do not use`);
    }
    fields.push({ field, wire, u32, bytes });
  }
  return fields;
}

/**
 * The one occurrence of a field, or undefined. A second one is refused: CRIU writes each field
 * once, and the merge rules a parser applies to repeats are a place to hide a second value.
 */
export function single(fields: WireField[], field: number, wire: number): WireField | undefined {
  const found = fields.filter((f) => f.field === field);
  if (found.length > 1) throw new WireFormatError(`field ${field} occurs ${found.length} times`);
  if (found[0] && found[0].wire !== wire) throw new WireFormatError(`field ${field} has wire type ${found[0].wire}, not ${wire}`);
  return found[0];
}

/** a repeated uint32, written one by one or packed (protobuf-c takes either) */
export function repeatedU32(fields: WireField[], field: number): number[] {
  const values: number[] = [];
  for (const f of fields) {
    if (f.field !== field) continue;
    if (f.wire === WIRE_VARINT) values.push(f.u32);
    else if (f.wire === WIRE_BYTES) {
      for (let pos = 0; pos < f.bytes.length; ) {
        const v = readVarint(f.bytes, pos);
        values.push(v.u32);
        pos = v.next;
      }
    } else throw new WireFormatError(`field ${field} has wire type ${f.wire}, not a uint32's`);
  }
  return values;
}

/** the magic every image of CRIU's starts with, before its own */
const IMG_COMMON_MAGIC = 0x54564319;

/** an image's entries: its magic (after the common one, when present), then u32 size + message each */
export function imageEntries(buf: Buffer, magic: number): Buffer[] {
  let pos = buf.length >= 4 && buf.readUInt32LE(0) === IMG_COMMON_MAGIC ? 4 : 0;
  if (buf.length < pos + 4 || buf.readUInt32LE(pos) !== magic) throw new WireFormatError(`it does not start with the magic ${magic.toString(16)}`);
  pos += 4;
  const entries: Buffer[] = [];
  while (pos < buf.length) {
    if (pos + 4 > buf.length) throw new WireFormatError(`it ends inside an entry's size, at byte ${pos}`);
    const size = buf.readUInt32LE(pos);
    if (pos + 4 + size > buf.length) throw new WireFormatError(`an entry of ${size} bytes runs past its end, at byte ${pos}`);
    entries.push(buf.subarray(pos + 4, pos + 4 + size));
    pos += 4 + size;
  }
  return entries;
}
