import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { expect } from 'chai';
import { CUT_SHORT, HEADER_BYTES, NOT_OURS, NOT_RECORDED, NOT_SEALED, opened, SEGMENT, segmentBroken, sealing, type SealKey } from '../../../agent/src/at-rest.js';

const TAG = 16;
const key = randomBytes(32);
const alice: SealKey = { key, context: 'checkpoint alice/ckpt.1' };

/** plain, sealed as the agent seals it, fed in pieces of `piece` bytes */
async function seal(plain: Buffer, encrypt = true, as: SealKey = alice, piece = 65536): Promise<{ bytes: Buffer; id: string }> {
  const sealer = sealing(as, encrypt);
  const pieces: Buffer[] = [];
  for (let at = 0; at < plain.length; at += piece) pieces.push(plain.subarray(at, at + piece));
  const out: Buffer[] = [];
  for await (const c of Readable.from(pieces).pipe(sealer.stream)) out.push(c as Buffer);
  return { bytes: Buffer.concat(out), id: sealer.id };
}

/** what opened yields of bytes (read in reads of CHUNK), or the reason it refused them */
async function open(bytes: Buffer, as: SealKey = alice, recorded?: string): Promise<{ plain: Buffer; why?: string }> {
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

/** where segment i (its bytes, then its tag) starts in a sealed file */
const segmentAt = (i: number) => HEADER_BYTES + i * (SEGMENT + TAG);

describe('files sealed at rest', () => {
  /** three segments and a bit: every case crosses segment and read boundaries */
  const plain = randomBytes(3 * SEGMENT + 12345);
  const marker = Buffer.from('the secret marker godwit must not leave in clear');
  plain.set(marker, SEGMENT + 100);

  for (const encrypt of [true, false]) {
    describe(encrypt ? 'encrypted' : 'with encryption off (authenticated only)', () => {
      it('opens to what was sealed, for the same context and recorded id, from pieces of any size', async () => {
        for (const [size, piece] of [[plain.length, 65536], [plain.length, 7 * SEGMENT], [0, 1], [SEGMENT, 4096], [2 * SEGMENT, SEGMENT]] as const) {
          const { bytes, id } = await seal(plain.subarray(0, size), encrypt, alice, piece);
          expect(bytes.length, `${size} bytes sealed`).to.equal(HEADER_BYTES + size + TAG * Math.max(1, Math.ceil(size / SEGMENT)));
          const { plain: back, why } = await open(bytes, alice, id);
          expect(why, `${size} bytes`).to.equal(undefined);
          expect(back.equals(plain.subarray(0, size)), `${size} bytes come back as they were`).to.equal(true);
        }
      });

      it(encrypt ? 'holds none of the plain bytes' : 'holds the plain bytes (encryption off)', async () => {
        const { bytes } = await seal(plain, encrypt);
        expect(bytes.includes(marker)).to.equal(!encrypt);
      });

      it('refuses a flipped byte anywhere, passing on nothing of the segment it is in', async () => {
        const { bytes, id } = await seal(plain, encrypt);
        const places: [string, number, string][] = [
          ['the magic', 1, NOT_SEALED],
          ['the salt', 20, NOT_RECORDED],
          ['the first segment', segmentAt(0) + 10, segmentBroken(0)],
          ['the third segment', segmentAt(2) + 5000, segmentBroken(2)],
          ["the second segment's tag", segmentAt(2) - 3, segmentBroken(1)],
          ['the last segment', bytes.length - 20, segmentBroken(3)],
        ];
        for (const [where, at, expected] of places) {
          const bad = Buffer.from(bytes);
          bad[at]! ^= 0x01;
          const { plain: passed, why } = await open(bad, alice, id);
          expect(why, `a byte changed in ${where}`).to.equal(expected);
          const segmentsBefore = at < HEADER_BYTES ? 0 : Math.floor((at - HEADER_BYTES) / (SEGMENT + TAG));
          expect(passed.length, `only the segments before ${where} were passed on`).to.equal(segmentsBefore * SEGMENT);
        }
      });

      it('refuses a file cut short, at a segment boundary, mid-segment or in its header', async () => {
        const { bytes } = await seal(plain, encrypt);
        expect((await open(bytes.subarray(0, segmentAt(3)))).why, 'cut at the last segment').to.equal(CUT_SHORT);
        expect((await open(bytes.subarray(0, segmentAt(1)))).why, 'cut at the second segment').to.equal(CUT_SHORT);
        expect((await open(bytes.subarray(0, bytes.length - 1))).why, 'its last byte cut').to.equal(segmentBroken(3));
        expect((await open(bytes.subarray(0, HEADER_BYTES + 5))).why, 'cut in the first tag').to.equal(CUT_SHORT);
        expect((await open(bytes.subarray(0, HEADER_BYTES))).why, 'only its header').to.equal(CUT_SHORT);
        expect((await open(bytes.subarray(0, 30))).why, 'cut in its header').to.equal(NOT_SEALED);
        expect((await open(Buffer.alloc(0))).why, 'empty').to.equal(NOT_SEALED);
        expect((await open(Buffer.concat([bytes, Buffer.from('more')]))).why, 'bytes added at its end').to.equal(segmentBroken(3));
      });

      it('refuses segments swapped, or one spliced in from another file of the same context', async () => {
        const { bytes } = await seal(plain, encrypt);
        const swapped = Buffer.from(bytes);
        bytes.copy(swapped, segmentAt(0), segmentAt(1), segmentAt(2));
        bytes.copy(swapped, segmentAt(1), segmentAt(0), segmentAt(1));
        expect((await open(swapped)).why).to.equal(segmentBroken(0));

        const { bytes: other } = await seal(plain, encrypt);
        const spliced = Buffer.from(bytes);
        other.copy(spliced, segmentAt(1), segmentAt(1), segmentAt(2));
        expect((await open(spliced)).why).to.equal(segmentBroken(1));
      });

      it("refuses another user's or another checkpoint's file put in its place, and another cluster's", async () => {
        const { bytes } = await seal(plain, encrypt);
        expect((await open(bytes, { key, context: 'checkpoint bob/ckpt.1' })).why, "alice's file in bob's place").to.equal(NOT_OURS);
        expect((await open(bytes, { key, context: 'checkpoint alice/ckpt.2' })).why, 'checkpoint 1 in the place of 2').to.equal(NOT_OURS);
        expect((await open(bytes, { key: randomBytes(32), context: alice.context })).why, "another cluster's key").to.equal(NOT_OURS);
        const older = await seal(plain, encrypt);
        const newer = await seal(plain, encrypt);
        expect((await open(older.bytes, alice, newer.id)).why, 'an older file of the same place').to.equal(NOT_RECORDED);
      });
    });
  }

  it('binds the choice to encrypt: a file written in clear cannot be passed off as encrypted, or the reverse', async () => {
    for (const encrypt of [true, false]) {
      const { bytes } = await seal(plain, encrypt);
      const flipped = Buffer.from(bytes);
      flipped[8]! ^= 0x01;
      expect((await open(flipped)).why).to.equal(NOT_OURS);
    }
  });
});
