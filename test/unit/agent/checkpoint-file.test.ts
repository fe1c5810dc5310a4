import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { expect } from 'chai';
import { execa } from 'execa';
import { GodwitError } from '@godwit/schemas';
import { FORGED, NO_MAC, NOT_RECORDED, TRAILER_BYTES } from '../../../agent/src/archive-mac.js';
import { readArchive, writeArchive } from '../../../agent/src/checkpoint-file.js';
import type { Criu } from '../../../agent/src/criu.js';
import { createImageStore } from '../../../agent/src/images.js';
import { packImages } from '../../../agent/src/image-archive.js';
import { entryData } from '../../tar-entries.js';

describe('checkpoint file MAC', () => {
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
  async function unpack(path: string, withKey: Buffer, mac: string) {
    const store = createImageStore(join(dir, 'data'), {} as Criu, key);
    try {
      await readArchive(path, withKey, mac, (tar) => store.unpackVerified(5, tar), refusal);
      return { error: undefined, store };
    } catch (err) {
      return { error: err as Error, store };
    }
  }

  it('is written 0600 in a 0700 directory, with its tag in a trailer, and unpacks with that tag', async () => {
    const { bytes, mac } = await writeArchive(src, file, key);
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    expect(statSync(join(dir, 'ckpt')).mode & 0o777).to.equal(0o700);
    const bytesOnDisk = readFileSync(file);
    expect(bytes).to.equal(bytesOnDisk.length);
    expect(bytesOnDisk.subarray(-TRAILER_BYTES).toString('hex')).to.equal(`${mac}${Buffer.from('GODWMAC1').toString('hex')}`);
    const { error, store } = await unpack(file, key, mac);
    expect(error).to.equal(undefined);
    expect(readFileSync(join(store.dirOf(5), 'core-1.img')).equals(core)).to.equal(true);
    expect(statSync(store.dirOf(5)).mode & 0o777, 'the images directory is root-only').to.equal(0o700);
  });

  it("stops past maxBytes (its owner's quota), keeping the file it would replace and leaving no partial file", async () => {
    const first = await writeArchive(src, file, key);
    const before = readFileSync(file);
    writeFileSync(join(src, 'core-1.img'), randomBytes(4 * 1024 * 1024));
    let error: unknown;
    await writeArchive(src, file, key, first.bytes + 1000).catch((err: unknown) => (error = err));
    expect(error).to.be.instanceOf(GodwitError).and.include({ code: 'GODWIT_ERR_CHECKPOINT_QUOTA' });
    expect(readFileSync(file).equals(before), 'the earlier checkpoint is untouched').to.equal(true);
    expect(readdirSync(join(dir, 'ckpt'))).to.deep.equal(['c.1']);
  });

  it('refuses the file with one byte changed anywhere (tar header, image data, tag, magic), and leaves no images', async () => {
    const { mac } = await writeArchive(src, file, key);
    const good = readFileSync(file);
    const data = entryData(good, /^core-\d+\.img$/);
    const places: [string, number, string][] = [
      ['the first tar header (a name byte)', 3, FORGED],
      ["core-1.img's header (its mode)", data.offset - 512 + 101, FORGED],
      ['the core image', data.offset + 1_000_000, FORGED],
      ['the end-of-archive blocks', good.length - TRAILER_BYTES - 10, FORGED],
      ['the tag', good.length - TRAILER_BYTES + 5, NOT_RECORDED],
      ['the magic', good.length - 1, NO_MAC],
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
  });

  it('refuses a tag made with another key, a file with no trailer, and a valid file that is not the one recorded', async () => {
    const { mac } = await writeArchive(src, file, key);
    expect((await unpack(file, randomBytes(32), mac)).error?.message).to.include(FORGED);

    const other = join(dir, 'other.1');
    const forged = await writeArchive(src, other, randomBytes(32));
    expect((await unpack(other, key, forged.mac)).error?.message, "another cluster's file, with its own tag").to.include(FORGED);

    const tarOnly = join(dir, 'plain.tar');
    const chunks: Buffer[] = [];
    for await (const c of packImages(src) as unknown as Readable) chunks.push(c as Buffer);
    writeFileSync(tarOnly, Buffer.concat(chunks));
    expect((await unpack(tarOnly, key, mac)).error?.message).to.include(NO_MAC);
    writeFileSync(tarOnly, 'short');
    expect((await unpack(tarOnly, key, mac)).error?.message).to.include(NO_MAC);

    writeFileSync(join(src, 'pstree.img'), 'another tree');
    const newer = await writeArchive(src, join(dir, 'ckpt', 'c.2'), key);
    expect((await unpack(file, key, newer.mac)).error?.message, 'an older checkpoint in place of a newer one').to.include(NOT_RECORDED);
  });

  it('refuses a symbolic link and a FIFO in place of the file, without waiting on it', async () => {
    const { mac } = await writeArchive(src, file, key);
    const link = join(dir, 'ckpt', 'link.1');
    symlinkSync(file, link);
    expect((await unpack(link, key, mac)).error?.message).to.equal(`${file} is not a usable checkpoint: it is a symbolic link`);
    const fifo = join(dir, 'ckpt', 'fifo.1');
    await execa('mkfifo', [fifo]);
    expect((await unpack(fifo, key, mac)).error?.message).to.equal(`${file} is not a usable checkpoint: it is not a regular file`);
  });

  it('reads the file once: the bytes unpacked are those verified, whatever is put at its path meanwhile', async () => {
    const { mac } = await writeArchive(src, file, key);
    const good = readFileSync(file);
    const swapped = Buffer.from(good);
    // beyond the first read
    const at = entryData(good, /^core-\d+\.img$/).offset + 2_000_000;
    swapped.writeUInt8(swapped.readUInt8(at) ^ 0xff, at);
    writeFileSync(join(dir, 'swap'), swapped);
    const seen: Buffer[] = [];
    await readArchive(file, key, mac, async (tar) => {
      for await (const chunk of tar) {
        // after the first chunk, the file at the path is replaced by a changed one
        if (!seen.length) renameSync(join(dir, 'swap'), file);
        seen.push(chunk as Buffer);
      }
    }, refusal);
    expect(Buffer.concat(seen).equals(good.subarray(0, -TRAILER_BYTES)), 'what was unpacked is the original tar').to.equal(true);
    expect(existsSync(join(dir, 'swap'))).to.equal(false);
  });
});
