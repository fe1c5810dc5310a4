import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { expect } from 'chai';
import { execa } from 'execa';
import { GodwitError } from '@godwit/schemas';
import { CUT_SHORT, HEADER_BYTES, MAGIC, NOT_OURS, NOT_RECORDED, NOT_SEALED, SEGMENT, segmentBroken, type SealKey } from '../../../agent/src/at-rest.js';
import { bytesMac, readArchive, readsBack, writeArchive } from '../../../agent/src/checkpoint-file.js';
import type { Criu } from '../../../agent/src/criu.js';
import { createImageStore } from '../../../agent/src/images.js';
import { packImages } from '../../../agent/src/image-archive.js';

/** what every checkpoint file is sealed for in these tests: its place */
const sealAs = (key: Buffer, context = 'checkpoint alice/c.1'): SealKey => ({ key, context });
/** the tar packImages makes of src: what a checkpoint file holds */
async function tarOf(src: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of packImages(src) as unknown as Readable) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('checkpoint file seal', () => {
  let dir: string;
  let src: string;
  let file: string;
  const key = randomBytes(32);
  /** larger than a read: the tag is checked across chunks */
  const core = randomBytes(3 * 1024 * 1024 + 7);
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'godwit-ckpt-file-'));
    src = join(dir, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'godwit.json'), JSON.stringify({ processId: 1 }));
    writeFileSync(join(src, 'pstree.img'), 'tree');
    writeFileSync(join(src, 'core-1.img'), core);
    file = join(dir, 'ckpt', 'c.1');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const refusal = (why: string) => new GodwitError('GODWIT_ERR_BAD_CHECKPOINT', `${file} is not a usable checkpoint: ${why}`);
  /** what stage does: the file, verified while the image store unpacks it */
  async function unpack(path: string, withKey: Buffer, mac: string, context?: string) {
    const store = createImageStore(join(dir, 'data'), {} as Criu, key);
    try {
      await readArchive(path, sealAs(withKey, context), mac, (tar) => store.unpackVerified(5, tar), refusal);
      return { error: undefined, store };
    } catch (err) {
      return { error: err as Error, store };
    }
  }

  it('is written 0600 in a 0700 directory, encrypted (no byte of its images in clear), and unpacks with the id recorded', async () => {
    const { bytes, mac } = await writeArchive(src, file, sealAs(key), { encrypt: true });
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    expect(statSync(join(dir, 'ckpt')).mode & 0o777).to.equal(0o700);
    const bytesOnDisk = readFileSync(file);
    expect(bytes).to.equal(bytesOnDisk.length);
    expect(bytesOnDisk.subarray(0, MAGIC.length).equals(MAGIC)).to.equal(true);
    expect(bytesOnDisk.includes(core.subarray(5000, 5064)), 'a piece of the core image in clear').to.equal(false);
    expect(bytesOnDisk.includes(Buffer.from('core-1.img')), 'a file name in clear').to.equal(false);
    const { error, store } = await unpack(file, key, mac);
    expect(error).to.equal(undefined);
    expect(readFileSync(join(store.dirOf(5), 'core-1.img')).equals(core)).to.equal(true);
    expect(statSync(store.dirOf(5)).mode & 0o777, 'the images directory is root-only').to.equal(0o700);
  });

  it("stops past maxBytes (its owner's quota), keeping the file it would replace and leaving no partial file", async () => {
    const first = await writeArchive(src, file, sealAs(key), { encrypt: true });
    const before = readFileSync(file);
    writeFileSync(join(src, 'core-1.img'), randomBytes(4 * 1024 * 1024));
    let error: unknown;
    await writeArchive(src, file, sealAs(key), { encrypt: true, maxBytes: first.bytes + 1000 }).catch((err: unknown) => (error = err));
    expect(error).to.be.instanceOf(GodwitError).and.include({ code: 'GODWIT_ERR_CHECKPOINT_QUOTA' });
    expect(readFileSync(file).equals(before), 'the earlier checkpoint is untouched').to.equal(true);
    expect(readdirSync(join(dir, 'ckpt'))).to.deep.equal(['c.1']);
  });

  for (const encrypt of [true, false]) {
    it(`refuses the file with one byte changed anywhere${encrypt ? '' : ' (encryption off: still authenticated)'}, and leaves no images`, async () => {
      const { mac } = await writeArchive(src, file, sealAs(key), { encrypt });
      const good = readFileSync(file);
      const places: [string, number, string][] = [
        ['the magic', 0, NOT_SEALED],
        ['the wrapped key', HEADER_BYTES - 20, NOT_RECORDED],
        ['the first segment (tar headers)', HEADER_BYTES + 3, segmentBroken(0)],
        ['the core image', HEADER_BYTES + 2 * (SEGMENT + 16) + 100, segmentBroken(2)],
        ['the last segment (end-of-archive blocks)', good.length - 30, segmentBroken(3)],
      ];
      for (const [where, offset, why] of places) {
        const bad = Buffer.from(good);
        bad.writeUInt8(bad.readUInt8(offset) ^ 0x01, offset);
        writeFileSync(file, bad);
        const { error, store } = await unpack(file, key, mac);
        expect(error, `a byte changed in ${where}`).to.be.instanceOf(GodwitError);
        expect(error!.message, `a byte changed in ${where}`).to.equal(`${file} is not a usable checkpoint: ${why}`);
        expect(store.migrationIds(), `nothing kept after a change in ${where}`).to.deep.equal([]);
        const images = join(dir, 'data', 'images');
        expect(existsSync(images) ? readdirSync(images) : [], `no partial images after a change in ${where}`).to.deep.equal([]);
      }
      writeFileSync(file, good.subarray(0, HEADER_BYTES + 2 * (SEGMENT + 16)));
      expect((await unpack(file, key, mac)).error?.message, 'cut short at a segment').to.include(CUT_SHORT);
    });
  }

  it("refuses another cluster's file, another user's or checkpoint's put in its place, a plain tar, and a valid file that is not the one recorded", async () => {
    const { mac } = await writeArchive(src, file, sealAs(key), { encrypt: true });
    expect((await unpack(file, randomBytes(32), mac)).error?.message, 'another key').to.include(NOT_OURS);
    expect((await unpack(file, key, mac, 'checkpoint bob/c.1')).error?.message, "alice's file in bob's place").to.include(NOT_OURS);
    expect((await unpack(file, key, mac, 'checkpoint alice/c.2')).error?.message, 'c.1 in the place of c.2').to.include(NOT_OURS);

    const other = join(dir, 'other.1');
    const forged = await writeArchive(src, other, sealAs(randomBytes(32)), { encrypt: true });
    expect((await unpack(other, key, forged.mac)).error?.message, "another cluster's file, with its own id").to.include(NOT_OURS);

    const tarOnly = join(dir, 'plain.tar');
    writeFileSync(tarOnly, await tarOf(src));
    expect((await unpack(tarOnly, key, mac)).error?.message).to.include(NOT_SEALED);
    writeFileSync(tarOnly, 'short');
    expect((await unpack(tarOnly, key, mac)).error?.message).to.include(NOT_SEALED);

    writeFileSync(join(src, 'pstree.img'), 'another tree');
    const newer = await writeArchive(src, join(dir, 'ckpt', 'c.2'), sealAs(key), { encrypt: true });
    expect((await unpack(file, key, newer.mac)).error?.message, 'an older checkpoint in place of a newer one').to.include(NOT_RECORDED);
  });

  it('refuses a symbolic link and a FIFO in place of the file, without waiting on it', async () => {
    const { mac } = await writeArchive(src, file, sealAs(key), { encrypt: true });
    const link = join(dir, 'ckpt', 'link.1');
    symlinkSync(file, link);
    expect((await unpack(link, key, mac)).error?.message).to.equal(`${file} is not a usable checkpoint: it is a symbolic link`);
    const fifo = join(dir, 'ckpt', 'fifo.1');
    await execa('mkfifo', [fifo]);
    expect((await unpack(fifo, key, mac)).error?.message).to.equal(`${file} is not a usable checkpoint: it is not a regular file`);
  });

  it('reads the file once: the bytes unpacked are those verified, whatever is put at its path meanwhile', async () => {
    const { mac } = await writeArchive(src, file, sealAs(key), { encrypt: true });
    const good = readFileSync(file);
    const swapped = Buffer.from(good);
    // beyond the first read
    const at = HEADER_BYTES + 2 * (SEGMENT + 16) + 100;
    swapped.writeUInt8(swapped.readUInt8(at) ^ 0xff, at);
    writeFileSync(join(dir, 'swap'), swapped);
    const seen: Buffer[] = [];
    await readArchive(file, sealAs(key), mac, async (tar) => {
      for await (const chunk of tar) {
        // after the first chunk, the file at the path is replaced by a changed one
        if (!seen.length) renameSync(join(dir, 'swap'), file);
        seen.push(chunk as Buffer);
      }
    }, refusal);
    const original: Buffer[] = [];
    writeFileSync(join(dir, 'again'), good);
    await readArchive(join(dir, 'again'), sealAs(key), mac, async (tar) => {
      for await (const chunk of tar) original.push(chunk as Buffer);
    }, refusal);
    expect(Buffer.concat(seen).equals(Buffer.concat(original)), 'what was unpacked is the original tar').to.equal(true);
    expect(existsSync(join(dir, 'swap'))).to.equal(false);
  });

  it('is read back by comparing its bytes with what was written, one changed byte anywhere telling them apart, without opening its seal', async () => {
    const { bytes } = await writeArchive(src, file, sealAs(key), { encrypt: true, compress: true });
    const written = readFileSync(file);
    expect(written.length).to.equal(bytes);
    const macKey = randomBytes(32);
    const macOf = (b: Buffer) => {
      const m = bytesMac(macKey);
      // in pieces unlike the file's reads: the MAC is of the bytes, not of how they came
      for (let at = 0; at < b.length; at += 1000) m.update(b.subarray(at, at + 1000));
      return m.digest();
    };
    expect(await readsBack(file, macKey, macOf(written)), 'the same bytes').to.equal(true);
    for (const at of [0, HEADER_BYTES + 7, written.length - 1]) {
      const changed = Buffer.from(written);
      changed.writeUInt8(changed.readUInt8(at) ^ 1, at);
      expect(await readsBack(file, macKey, macOf(changed)), `byte ${at} changed`).to.equal(false);
    }
    expect(await readsBack(file, macKey, macOf(written.subarray(0, -1))), 'one byte short').to.equal(false);
    expect(await readsBack(file, randomBytes(32), macOf(written)), 'under another key').to.equal(false);
  });
});
