/**
 * The checkpoint file: one tar of a program's images, the files saved with them and a manifest,
 * written beside its final name, fsynced and read back against its checksum before it replaces
 * anything, so a crash while writing one never costs the previous one.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { CheckpointManifest } from '@godwit/schemas';
import { packImages } from './images.js';
import type { TreeFile } from './open-files.js';

export const MANIFEST = 'godwit-checkpoint.json';
/** the manifest as the agent writes it: each file with its open(2) flags and mode too */
export type Manifest = Omit<CheckpointManifest, 'files'> & { files: TreeFile[] };

export async function sha256Of(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The manifest of a checkpoint file, read without unpacking the rest. */
export async function readManifest(file: string): Promise<Manifest> {
  const extract = tar.extract();
  let manifest: (Manifest) | undefined;
  extract.on('entry', (header, stream, next) => {
    if (header.name !== MANIFEST) {
      stream.on('end', next).resume();
      return;
    }
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => void chunks.push(c as Buffer));
    stream.on('end', () => {
      manifest = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Manifest;
      next();
    });
  });
  await pipeline(createReadStream(file), extract);
  if (!manifest) throw new Error('it has no godwit manifest');
  return manifest;
}


/** Packs dir into target (via target.partial), fsynced and read back before it replaces target. */
export async function writeArchive(dir: string, target: string): Promise<{ bytes: number; sha256: string }> {
  await mkdir(dirname(target), { recursive: true, mode: 0o700 });
  const partial = `${target}.partial`;
  const hash = createHash('sha256');
  let bytes = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  try {
    await pipeline(packImages(dir), count, createWriteStream(partial, { mode: 0o600 }));
    await fsyncPath(partial);
    const sha256 = hash.digest('hex');
    const readBack = await sha256Of(createReadStream(partial));
    if (readBack !== sha256) throw new Error(`what was written reads back differently (sha256 ${readBack}, not ${sha256})`);
    await rename(partial, target);
    await fsyncPath(dirname(target));
    return { bytes, sha256 };
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}
