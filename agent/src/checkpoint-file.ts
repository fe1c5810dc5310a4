/**
 * The checkpoint file: one tar of a program's images, the files saved with them and a manifest,
 * sealed with the cluster key (at-rest.ts: encrypted unless the agent is told otherwise), written
 * beside its final name, fsynced and read back before it replaces anything, so a crash while
 * writing one never costs the previous one.
 */
import { createCipheriv, randomBytes, timingSafeEqual } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { type FileHandle, mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type CheckpointManifest, GodwitError } from '@godwit/schemas';
import { HEADER_BYTES, openHeader, opened, sealing, type SealKey } from './at-rest.js';
import { CHUNK, packImages } from './image-archive.js';
import type { TreeFile } from './open-files.js';

export const MANIFEST = 'godwit-checkpoint.json';
/** the manifest as the agent writes it: each file with its open(2) flags and mode too */
export type Manifest = Omit<CheckpointManifest, 'files'> & { files: TreeFile[] };

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** reads a tar to its end, keeping nothing: for a verification alone */
const drain = async (tar: Readable): Promise<void> => pipeline(tar, new Writable({ write: (_chunk, _enc, done) => done() }));

/**
 * A one-time MAC of a stream of bytes: GMAC (AES-GCM over them as additional data) under a key
 * of its own. Two streams MAC alike under one key only if they are the same bytes; it is
 * several times faster than opening the sealed file again (decrypting and decompressing every
 * segment), and what it vouches for is the sealer's own output, which opens.
 */
export function bytesMac(key: Buffer): { update(chunk: Buffer): void; digest(): Buffer } {
  const gmac = createCipheriv('aes-256-gcm', key, Buffer.alloc(12));
  return {
    update: (chunk) => gmac.setAAD(chunk),
    digest: () => {
      gmac.final();
      return gmac.getAuthTag();
    },
  };
}

/** whether the file at path holds exactly the bytes `written` (its MAC under key) was fed */
export async function readsBack(path: string, key: Buffer, written: Buffer): Promise<boolean> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const read = bytesMac(key);
    for await (const chunk of chunksOf(fh)) read.update(chunk);
    return timingSafeEqual(read.digest(), written);
  } finally {
    await fh.close();
  }
}

export interface Sealing {
  /** encrypted, or authenticated only (agent config encryptAtRest) */
  encrypt: boolean;
  /** LZ4-compressed before it is sealed */
  compress?: boolean;
  /** the most bytes the file may take */
  maxBytes?: number;
}

export interface Written {
  /** the file's bytes */
  bytes: number;
  /** the bytes packed into it, before compression: bytes / plainBytes is what compression saved */
  plainBytes: number;
  /** the file's id, which godwit records */
  mac: string;
}

/**
 * Packs dir into target (via target.partial), sealed for seal's context (at-rest.ts), fsynced and
 * read back before it replaces target. Past maxBytes (its owner's quota) the writing stops, and
 * target is left as it was.
 */
export async function writeArchive(dir: string, target: string, seal: SealKey, { encrypt, compress = false, maxBytes = Infinity }: Sealing): Promise<Written> {
  await mkdir(dirname(target), { recursive: true, mode: 0o700 });
  const partial = `${target}.partial`;
  const sealer = sealing(seal, encrypt, compress);
  const macKey = randomBytes(32);
  const sent = bytesMac(macKey);
  let bytes = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (bytes > maxBytes) {
        done(new GodwitError('GODWIT_ERR_CHECKPOINT_QUOTA', `checkpoint ${target} passes the ${maxBytes} bytes its owner's quota leaves: it is not kept`, { maxBytes, bytes }));
        return;
      }
      sent.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(packImages(dir), sealer.stream, count, createWriteStream(partial, { mode: 0o600 }));
    await fsyncPath(partial);
    const mac = sealer.id;
    // the sealed bytes, which open, are what reached the file: compared, not opened a second time
    if (!(await readsBack(partial, macKey, sent.digest()))) throw new Error(`what was written to ${partial} reads back differently`);
    await rename(partial, target);
    await fsyncPath(dirname(target));
    return { bytes, plainBytes: sealer.plainBytes(), mac };
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}

/** the open file from its start, in reads of CHUNK (a stream of a FileHandle, once destroyed, ends every later one) */
async function* chunksOf(fh: FileHandle): AsyncGenerator<Buffer> {
  for (let position = 0; ; ) {
    const { bytesRead, buffer } = await fh.read(Buffer.allocUnsafe(CHUNK), 0, CHUNK, position);
    if (!bytesRead) return;
    position += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}

/** the tar of the open file, each segment verified before it is passed on (at-rest.ts opened) */
async function unpackFrom<T>(fh: FileHandle, seal: SealKey, recorded: string | undefined, unpack: (tar: Readable) => Promise<T>, fail: (why: string) => Error): Promise<T> {
  return unpack(Readable.from(opened(chunksOf(fh), seal, recorded, fail), { objectMode: false }));
}

/**
 * Hands the tar in the checkpoint file to unpack, reading the file once (one open: the bytes
 * verified are the bytes unpacked, whatever is put at its path meanwhile); each segment is
 * verified before unpack sees it, and the stream fails at its end if the file was cut short. A
 * file whose header is not the one recorded, or not sealed for seal's context, is refused before
 * any of its segments is read. recorded: undefined where godwit recorded none (a frozen program's
 * images, frozen-images.ts), whose context alone says whose they are.
 */
export async function readArchive<T>(file: string, seal: SealKey, recorded: string | undefined, unpack: (tar: Readable) => Promise<T>, fail: (why: string) => Error): Promise<T> {
  let sealFailed = false;
  const failing = (why: string) => {
    sealFailed = true;
    return fail(why);
  };
  // not through a link, nor blocking on a FIFO: the file must be a regular one of its own
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'ELOOP' ? failing('it is a symbolic link') : err;
  });
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw failing('it is not a regular file');
    const header = Buffer.alloc(Math.min(st.size, HEADER_BYTES));
    await fh.read(header, 0, header.length, 0);
    const opening = openHeader(header, seal, recorded);
    if ('problem' in opening) throw failing(opening.problem);
    try {
      return await unpackFrom(fh, seal, recorded, unpack, failing);
    } catch (err) {
      // a file cut short stops the unpacking before its end is known: the seal, read to its
      // end, is what says so plainly
      if (!sealFailed) await unpackFrom(fh, seal, recorded, drain, failing);
      throw err;
    }
  } finally {
    await fh.close();
  }
}
