import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { expect } from 'chai';
import { HEADER_BYTES, NOT_OURS, opened, sealing, type SealKey } from '../../../agent/src/at-rest.js';
import { BLOCK, Compressor, Decompressor } from '../../../agent/src/compression.js';

const alice: SealKey = { key: randomBytes(32), context: 'checkpoint alice/ckpt.1' };

/** memory as programs hold it: runs of zeros, repeated structures, and some random bytes */
function programMemory(bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  const record = Buffer.from('{"name":"godwit","pid":12345,"state":"running","next":null}');
  for (let at = 0; at < bytes / 2; at += record.length + 3) record.copy(out, at);
  randomBytes(Math.floor(bytes / 8)).copy(out, Math.floor(bytes / 2));
  return out;
}

async function seal(plain: Buffer, encrypt: boolean, compress: boolean): Promise<{ bytes: Buffer; id: string; plainBytes: number }> {
  const sealer = sealing(alice, encrypt, compress);
  const pieces: Buffer[] = [];
  for (let at = 0; at < plain.length; at += 65536) pieces.push(plain.subarray(at, at + 65536));
  const out: Buffer[] = [];
  for await (const c of Readable.from(pieces).pipe(sealer.stream)) out.push(c as Buffer);
  return { bytes: Buffer.concat(out), id: sealer.id, plainBytes: sealer.plainBytes() };
}

async function open(bytes: Buffer, recorded?: string, as: SealKey = alice): Promise<{ plain: Buffer; why?: string }> {
  const reads: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 1 << 20) reads.push(bytes.subarray(at, at + (1 << 20)));
  const got: Buffer[] = [];
  try {
    for await (const c of opened(Readable.from(reads), as, recorded, (why) => new Error(why))) got.push(c);
  } catch (err) {
    return { plain: Buffer.concat(got), why: (err as Error).message };
  }
  return { plain: Buffer.concat(got) };
}

describe('compression before the seal (LZ4)', () => {
  const memory = programMemory(5 * BLOCK + 777);

  for (const encrypt of [true, false]) {
    it(`shrinks compressible memory and opens to it exactly (${encrypt ? 'encrypted' : 'authenticated only'})`, async () => {
      const { bytes, id, plainBytes } = await seal(memory, encrypt, true);
      expect(plainBytes).to.equal(memory.length);
      expect(bytes.length, `sealed compressed: ${bytes.length} bytes of ${memory.length}`).to.be.below(memory.length / 3);
      const { plain, why } = await open(bytes, id);
      expect(why).to.equal(undefined);
      expect(plain.equals(memory), 'what comes back is what was sealed').to.equal(true);
    });
  }

  it('stores random bytes as they are, costing only a word per block', async () => {
    const noise = randomBytes(3 * BLOCK + 5);
    const { bytes, id } = await seal(noise, true, true);
    const plainSealed = (await seal(noise, true, false)).bytes.length;
    expect(bytes.length - plainSealed, 'one 4-byte word per block more than uncompressed').to.equal(4 * 4);
    const { plain, why } = await open(bytes, id);
    expect(why).to.equal(undefined);
    expect(plain.equals(noise)).to.equal(true);
  });

  it('opens files sealed before compression, and an empty one', async () => {
    for (const [plainIn, compress] of [[memory, false], [Buffer.alloc(0), true], [Buffer.alloc(0), false]] as const) {
      const { bytes, id } = await seal(plainIn, true, compress);
      const { plain, why } = await open(bytes, id);
      expect(why, `${plainIn.length} bytes, compress ${compress}`).to.equal(undefined);
      expect(plain.equals(plainIn)).to.equal(true);
    }
  });

  it('refuses a compressed file whose flag was flipped, or one byte of it changed, passing on nothing after it', async () => {
    const { bytes, id } = await seal(memory, true, true);
    const unflagged = Buffer.from(bytes);
    unflagged[8] = unflagged[8]! & ~2;
    expect((await open(unflagged)).why, 'the compression flag is bound to the wrapped key').to.equal(NOT_OURS);
    const changed = Buffer.from(bytes);
    changed[HEADER_BYTES + 10] = changed[HEADER_BYTES + 10]! ^ 1;
    const { plain, why } = await open(changed, id);
    expect(why).to.match(/segment 0 does not verify/);
    expect(plain.length, 'nothing of the changed segment was passed on').to.equal(0);
  });

  it('refuses frames that are not ones godwit writes, without allocating what they claim', () => {
    const fail = (why: string) => new Error(why);
    const huge = Buffer.alloc(8);
    huge.writeUInt32BE(0x7fff_ffff);
    expect(() => new Decompressor(fail).push([huge])).to.throw(/frame of 2147483647 bytes/);
    const claims = Buffer.alloc(12);
    claims.writeUInt32BE(8);
    claims.writeUInt32LE(BLOCK * 64, 4);
    expect(() => new Decompressor(fail).push([claims])).to.throw(/holds 67108864 bytes/);
    const part = new Decompressor(fail);
    part.push([Buffer.from([0, 0, 0, 9, 1, 2])]);
    expect(() => part.end()).to.throw(/stops 6 bytes into a frame/);
  });

  it('gives back blocks in order, whatever the pieces it is fed', async () => {
    const c = new Compressor();
    const frames: Buffer[] = [];
    for (let at = 0; at < memory.length; at += 333_333) frames.push(...(await c.push(memory.subarray(at, at + 333_333))));
    frames.push(...(await c.end()));
    const d = new Decompressor((why) => new Error(why));
    const all = Buffer.concat(frames);
    const back: Buffer[] = [];
    for (let at = 0; at < all.length; at += 1000) back.push(...d.push([all.subarray(at, at + 1000)]));
    d.end();
    expect(Buffer.concat(back).equals(memory)).to.equal(true);
  });
});
