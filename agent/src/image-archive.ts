/**
 * An images directory as a tar stream, no temporary archive on either side: packed lead images
 * first (a lazy move's destination starts `criu lazy-pages` once they are in), extracted file by
 * file as it comes.
 */
import { createReadStream, createWriteStream, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { GodwitError } from '@godwit/schemas';
import { inPackOrder, isLazyMeta, META_FILE, SAFE_NAME } from './image-meta.js';

/** large reads: images are mostly memory pages, hundreds of MiB */
export const CHUNK = 1 << 20;

/** Packs an images directory as a tar stream, lead images first (then by name); it errors if a file cannot be read. */
export function packImages(dir: string): tar.Pack {
  const pack = tar.pack();
  (async () => {
    for (const name of inPackOrder(readdirSync(dir))) {
      const st = statSync(join(dir, name));
      if (!st.isFile()) continue;
      const header = { name, size: st.size, mode: 0o600 };
      // Most images are small, and the program is stopped while they travel: each is read at
      // once, not through libuv's thread pool, whose round costs far more than the read
      if (st.size <= CHUNK) {
        // an entry queued when the pack fails fails with it: the pack's error tells whoever reads it
        pack.entry(header, readFileSync(join(dir, name))).on('error', () => undefined);
      } else {
        await pipeline(createReadStream(join(dir, name), { highWaterMark: CHUNK }), pack.entry(header));
      }
    }
    pack.finalize();
  })().catch((err: Error) => pack.destroy(err));
  return pack;
}

export interface Extracting {
  /** the directory to write into, made on first use; lazy: godwit.json says it is a lazy move's */
  place(lazy: boolean): string;
  /** a file is in place in dir */
  written?: (name: string, dir: string) => void;
}

/**
 * Extracts a tar stream of images, refusing any entry that is not a plain file name. Returns the
 * names that came and their bytes.
 */
export async function extractImages(body: Readable, { place, written }: Extracting): Promise<{ received: Set<string>; bytes: number }> {
  const received = new Set<string>();
  let bytes = 0;
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    if (header.type !== 'file' || !SAFE_NAME.test(header.name)) {
      stream.resume();
      extract.destroy(new GodwitError('GODWIT_ERR_BAD_REQUEST', `image archive entry '${header.name}' is not a plain file name`));
      return;
    }
    received.add(header.name);
    bytes += header.size ?? 0;
    if ((header.size ?? 0) > CHUNK) {
      const into = place(false);
      pipeline(stream, createWriteStream(join(into, header.name), { mode: 0o600, highWaterMark: CHUNK }))
        .then(() => written?.(header.name, into))
        .then(() => next(), (err: Error) => next(err));
      return;
    }
    // small ones (most) written at once, as packImages reads them, and gathered with plain
    // listeners: a pipeline() each costs more than the write, and a lazy move receives its small
    // images while the program is stopped
    const chunks: Buffer[] = [];
    stream.on('data', (chunk) => chunks.push(chunk as Buffer));
    stream.on('error', (err: Error) => next(err));
    stream.on('end', () => {
      try {
        const data = Buffer.concat(chunks);
        const into = place(header.name === META_FILE && isLazyMeta(data));
        writeFileSync(join(into, header.name), data, { mode: 0o600 });
        written?.(header.name, into);
      } catch (err) {
        next(err as Error);
        return;
      }
      next();
    });
  });
  await pipeline(body, extract);
  return { received, bytes };
}
