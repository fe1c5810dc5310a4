/**
 * The checkpoint file: one tar of a program's images, the files saved with them and a manifest,
 * signed with the cluster key, written beside its final name, fsynced and read back against its
 * tag before it replaces anything, so a crash while writing one never costs the previous one.
 */
import { constants, createWriteStream } from 'node:fs';
import { type FileHandle, mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type CheckpointManifest, GodwitError } from '@godwit/schemas';
import { signing, trailerProblem, TRAILER_BYTES, verified } from './archive-mac.js';
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
 * Packs dir into target (via target.partial), signed with the cluster key (archive-mac.ts),
 * fsynced and read back against its tag before it replaces target. Past maxBytes (its owner's
 * quota) the writing stops, and target is left as it was.
 */
export async function writeArchive(dir: string, target: string, key: Buffer, maxBytes = Infinity): Promise<{ bytes: number; mac: string }> {
  await mkdir(dirname(target), { recursive: true, mode: 0o700 });
  const partial = `${target}.partial`;
  const signer = signing(key);
  let bytes = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (bytes > maxBytes) {
        done(new GodwitError('GODWIT_ERR_CHECKPOINT_QUOTA', `checkpoint ${target} passes the ${maxBytes} bytes its owner's quota leaves: it is not kept`, { maxBytes, bytes }));
        return;
      }
      done(null, chunk);
    },
  });
  try {
    await pipeline(packImages(dir), signer.stream, count, createWriteStream(partial, { mode: 0o600 }));
    await fsyncPath(partial);
    const mac = signer.tag();
    await readArchive(partial, key, mac, drain, (why) => new Error(`what was written reads back differently: ${why}`));
    await rename(partial, target);
    await fsyncPath(dirname(target));
    return { bytes, mac };
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

/** the tar of the open file, verified as it is read (archive-mac.ts verified) */
async function unpackFrom<T>(fh: FileHandle, key: Buffer, recorded: string, unpack: (tar: Readable) => Promise<T>, fail: (why: string) => Error): Promise<T> {
  return unpack(Readable.from(verified(chunksOf(fh), key, recorded, fail), { objectMode: false }));
}

/**
 * Hands the tar in the checkpoint file to unpack, reading the file once (one open: the bytes
 * verified are the bytes unpacked, whatever is put at its path meanwhile); the stream unpack
 * reads fails at its end unless the file's MAC verifies with the key and is the one recorded.
 * A file whose trailer is missing or not the recorded one is refused before any of it is read.
 */
export async function readArchive<T>(file: string, key: Buffer, recorded: string, unpack: (tar: Readable) => Promise<T>, fail: (why: string) => Error): Promise<T> {
  let macFailed = false;
  const failing = (why: string) => {
    macFailed = true;
    return fail(why);
  };
  // not through a link, nor blocking on a FIFO: the file must be a regular one of its own
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'ELOOP' ? failing('it is a symbolic link') : err;
  });
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw failing('it is not a regular file');
    const { size } = st;
    const trailer = Buffer.alloc(Math.min(size, TRAILER_BYTES));
    await fh.read(trailer, 0, trailer.length, size - trailer.length);
    const problem = trailerProblem(trailer, recorded);
    if (problem) throw failing(problem);
    try {
      return await unpackFrom(fh, key, recorded, unpack, failing);
    } catch (err) {
      // a byte changed in the tar's own structure stops the unpacking before the MAC is known:
      // the MAC, read to its end, is what says so plainly
      if (!macFailed) await unpackFrom(fh, key, recorded, drain, failing);
      throw err;
    }
  } finally {
    await fh.close();
  }
}
