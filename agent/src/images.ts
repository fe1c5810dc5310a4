/**
 * Image directories under dataDir/images/MIGRATION, and moving them between agents as a tar
 * stream over HTTP: no temporary archive on either side. godwit.json (what the destination needs
 * to restore) goes first.
 *
 * A lazy move's images, which hold no memory pages (some 30 small files), live under
 * runDir/images instead, where the agent has one: a tmpfs. They are written while the program is
 * stopped, and this machine's disk took 0.4 ms to create each small file (a tmpfs: 0.015 ms), 10
 * of the 60-100 ms a 64 MiB program stood still. They are needed only until the program runs at
 * the destination and its memory is there: a tmpfs survives an agent restart, and whatever ends
 * it (the machine's restart) ends the stopped program at the source as well.
 *
 * Images are used (sent or restored) only when their bytes are known to be godwit's: those this
 * agent dumped for a move or received, verified, in this run, or those whose seal verifies
 * (image-seal.ts: a freeze's, or those kept after a move). Between agents they travel with the
 * checkpoint's trailer (archive-mac.ts): the receiver verifies the HMAC of the very bytes it
 * extracts into a root-only directory, which appears under its name only once it did.
 */
import { createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { GodwitError, parseApiError, type PageServer, type StreamInodes } from '@godwit/schemas';
import { signing, verified } from './archive-mac.js';
import type { Criu, InheritedFile, RunningPageServer } from './criu.js';
import { BROKEN_SEAL, readSeal, sameSeal, SEAL_FILE, sealHasher, type SealHasher, sealProblem, UNSEALED, writeSeal } from './image-seal.js';
import { killCriu, lazyPagesPidIn } from './lazy.js';
import { freePort } from './free-port.js';

export const META_FILE = 'godwit.json';
/** input the program had not read when it was dumped, handed to it first after the restore */
export const UNREAD_FILE = 'godwit-stdin';
/** large reads: images are mostly memory pages, hundreds of MiB */
export const CHUNK = 1 << 20;
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface ImageMeta {
  version: 1;
  processId: number;
  epoch: number;
  rootPid: number;
  inodes: StreamInodes;
  /** CRIU's network lock tables this dump left in the source node's namespace */
  lockTables: string[];
  /** the user had closed the program's stdin: close it again after the restore */
  stdinClosed: boolean;
  /** the memory pages went to the destination's page server, not into these images */
  direct: boolean;
  argv: string[];
  cwd: string;
  /** a lazy dump: CRIU (dumpPid) serves the pages from the stopped tree at `at` */
  lazy?: { at: PageServer; dumpPid: number };
  /** a recovery: files handed to the restored tree already open, in place of changed ones */
  inherit?: InheritedFile[];
  /** where the program saw its control directory: CRIU mounts the keeper's view there again */
  controlMounts?: string[];
}

/** whether godwit.json's text describes a lazy move's images */
function isLazyMeta(text: Buffer): boolean {
  try {
    return (JSON.parse(text.toString('utf8')) as Partial<ImageMeta>).lazy !== undefined;
  } catch {
    return false; // readMetaIn says what is wrong with it once all is in
  }
}

/** the description of the images in dir; throws when it cannot be read */
export function readMetaIn(dir: string): ImageMeta {
  return JSON.parse(readFileSync(join(dir, META_FILE), 'utf8')) as ImageMeta;
}

/**
 * The images sent first: godwit.json (what the receiver needs before the rest), then what
 * `criu lazy-pages` reads as it starts (found by starting it with each left out): the inventory,
 * the process tree and each process's ids.
 */
export function isLeadImage(name: string): boolean {
  return name === META_FILE || name === 'inventory.img' || name === 'pstree.img' || /^ids-\d+\.img$/.test(name);
}
const packOrder = (name: string) => (name === META_FILE ? 0 : isLeadImage(name) ? 1 : 2);
const inPackOrder = (names: string[]) => names.sort((a, b) => packOrder(a) - packOrder(b) || a.localeCompare(b));

/** what a restore reads, and so what a seal covers: not CRIU's logs and pid files, nor the seal */
const isSealed = (name: string) => name === META_FILE || name === UNREAD_FILE || name.endsWith('.img');

/** the files of dir a seal covers, in the order they are sealed and sent */
function sealedNamesIn(dir: string): string[] {
  return inPackOrder(readdirSync(dir).filter((n) => isSealed(n) && statSync(join(dir, n)).isFile()));
}

/**
 * Packs an images directory as a tar stream, lead images first (then by name): a lazy move's
 * destination starts `criu lazy-pages` once they are in. The stream errors if a file cannot be
 * read, or, given the seal the directory carries, if the bytes read are not the ones sealed (it
 * then ends before the tar's end, which a receiver refuses).
 */
export function packImages(dir: string, seal?: { key: Buffer; recorded: string; fail: (why: string) => Error }): tar.Pack {
  const pack = tar.pack();
  const hasher = seal && sealHasher(seal.key);
  (async () => {
    for (const name of inPackOrder(readdirSync(dir))) {
      const st = statSync(join(dir, name));
      // the receiver seals what it took in itself
      if (!st.isFile() || name === SEAL_FILE) continue;
      const header = { name, size: st.size, mode: 0o600 };
      const sealed = isSealed(name) ? hasher : undefined;
      sealed?.file(name, st.size);
      // Most images are small, and the program is stopped while they travel: read at once, each
      // costs microseconds where a round through libuv's thread pool costs a millisecond or more
      // (queued entries fail with the pack, which tells whoever reads it: nothing to add here)
      if (st.size <= CHUNK) {
        const data = readFileSync(join(dir, name));
        sealed?.update(data);
        pack.entry(header, data).on('error', () => undefined);
      } else {
        const read = createReadStream(join(dir, name), { highWaterMark: CHUNK });
        await pipeline(read, hashedOnTheWay(sealed), pack.entry(header));
      }
    }
    if (seal && hasher && !sameSeal(hasher.hex(), seal.recorded)) throw seal.fail(BROKEN_SEAL);
    pack.finalize();
  })().catch((err: Error) => pack.destroy(err));
  return pack;
}

/** a pipeline's step that passes a file's bytes on, hashed for its seal where there is one */
function hashedOnTheWay(sealed: SealHasher | undefined) {
  return async function* (chunks: AsyncIterable<unknown>): AsyncGenerator<Buffer> {
    for await (const chunk of chunks as AsyncIterable<Buffer>) {
      sealed?.update(chunk);
      yield chunk;
    }
  };
}

/**
 * The tar stream in writes of up to CHUNK: tar-stream hands on each 512-byte header and each
 * file on its own, so a lazy move's 27 small images went out, while the program was stopped, as
 * some 80 writes to the socket; now as one.
 */
async function* coalesced(source: AsyncIterable<unknown>): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of source as AsyncIterable<Buffer>) {
    parts.push(chunk);
    size += chunk.length;
    if (size >= CHUNK) {
      yield Buffer.concat(parts);
      parts = [];
      size = 0;
    }
  }
  if (size) yield Buffer.concat(parts);
}

/** key: the cluster key; runDir: where a lazy move's images go (a tmpfs), dataDir's when unset */
export function createImageStore(dataDir: string, criu: Criu, key: Buffer, runDir = dataDir) {
  const diskRoot = join(dataDir, 'images');
  const runRoot = join(runDir, 'images');
  const roots = [...new Set([runRoot, diskRoot])];
  const rootFor = (lazy: boolean) => (lazy ? runRoot : diskRoot);
  /** where a migration's images are, or would be without a lazy move */
  const dirOf = (migrationId: number) => {
    const run = join(runRoot, String(migrationId));
    return existsSync(run) ? run : join(diskRoot, String(migrationId));
  };
  const everyDirOf = (migrationId: number) => roots.flatMap((r) => [join(r, String(migrationId)), join(r, `${migrationId}.partial`)]);
  /** page servers receiving the pages of a migration here, until its images are complete */
  const pageServers = new Map<number, RunningPageServer>();
  /**
   * migrations whose images this agent dumped for a move, or verified as it extracted them, in
   * this run: their bytes are known to be godwit's without reading them again (a lazy move's
   * restore and a direct move's send happen while the program is stopped). Any others are used
   * only when their seal verifies.
   */
  const vouched = new Set<number>();
  const refused = (dir: string, what: string, why: string) =>
    new GodwitError('GODWIT_ERR_BAD_IMAGES', `the images in ${dir} are not ${what}: ${why}`, { imagesDir: dir });
  // images a previous run of this agent was receiving can never be completed: the orchestrator
  // fails those migrations, so their partial directories are only litter, and a lazy-pages
  // daemon started for one would wait for its restore forever
  for (const root of roots.filter((r) => existsSync(r))) {
    for (const name of readdirSync(root)) {
      if (!name.endsWith('.partial')) continue;
      const pager = lazyPagesPidIn(join(root, name));
      if (pager !== undefined) killCriu(pager);
      rmSync(join(root, name), { recursive: true, force: true });
    }
  }

  async function removeAll(migrationId: number): Promise<void> {
    vouched.delete(migrationId);
    for (const d of everyDirOf(migrationId)) await rm(d, { recursive: true, force: true });
  }

  function writeMetaIn(dir: string, meta: ImageMeta): void {
    writeFileSync(join(dir, META_FILE), JSON.stringify(meta), { mode: 0o600 });
  }

  /** (stats read at once: the program may be stopped meanwhile, as for packImages) */
  function size(dir: string): number {
    let total = 0;
    for (const name of readdirSync(dir)) total += statSync(join(dir, name)).size;
    return total;
  }

  /**
   * Unpacks a tar stream into dataDir/images/MIGRATION (runDir's for a lazy move); the directory
   * appears only when complete, sealed with hasher's tag of what came when given one.
   */
  async function unpack(migrationId: number, body: Readable, written?: (name: string, dir: string) => void, hasher?: SealHasher): Promise<number> {
    const pageServer = pageServers.get(migrationId);
    // where they go is known from godwit.json, the first entry: under runDir for a lazy move
    let partial = pageServer ? join(diskRoot, `${migrationId}.partial`) : undefined;
    const place = (lazy: boolean): string => {
      if (partial) return partial;
      partial = join(rootFor(lazy), `${migrationId}.partial`);
      rmSync(partial, { recursive: true, force: true });
      mkdirSync(partial, { recursive: true, mode: 0o700 });
      return partial;
    };
    // what came, counted as it comes: a lazy-pages daemon started early writes here too
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
      // hashed for the seal in the order they come: packImages's, as the stream's MAC says, the
      // order sealedNamesIn gives
      const sealed = isSealed(header.name) ? hasher : undefined;
      sealed?.file(header.name, header.size ?? 0);
      if ((header.size ?? 0) > CHUNK) {
        const into = place(false);
        pipeline(stream, hashedOnTheWay(sealed), createWriteStream(join(into, header.name), { mode: 0o600, highWaterMark: CHUNK }))
          .then(() => written?.(header.name, into))
          .then(() => next(), (err: Error) => next(err));
        return;
      }
      // small ones (most) written at once, as packImages reads them, and gathered with plain
      // listeners: a pipeline() costs 0.2-0.4 ms here (27 in a row: 5-10 ms), and a lazy move
      // receives 27 images while the program is stopped
      const chunks: Buffer[] = [];
      stream.on('data', (chunk) => chunks.push(chunk as Buffer));
      stream.on('error', (err: Error) => next(err));
      stream.on('end', () => {
        try {
          const data = Buffer.concat(chunks);
          sealed?.update(data);
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
    let into: string;
    try {
      await pipeline(body, extract);
      into = place(false);
      const meta = readMetaIn(into);
      if (pageServer) {
        // the pages came (or never will) through the page server: wait for it, or let it go
        if (meta.direct) await pageServer.done;
        else pageServer.stop();
        pageServers.delete(migrationId);
        // the pages it wrote (not its log)
        for (const name of readdirSync(into)) if (!received.has(name) && !name.endsWith('.log')) bytes += statSync(join(into, name)).size;
      }
      if (hasher) writeFileSync(join(into, SEAL_FILE), hasher.hex(), { mode: 0o600 });
    } catch (err) {
      pageServers.get(migrationId)?.stop();
      pageServers.delete(migrationId);
      if (partial) await rm(partial, { recursive: true, force: true });
      if (err instanceof GodwitError) throw err;
      throw new GodwitError('GODWIT_ERR_TRANSFER_FAILED', `receiving the images of migration ${migrationId} failed: ${(err as Error).message}`);
    }
    for (const root of roots) rmSync(join(root, String(migrationId)), { recursive: true, force: true });
    const final = into.slice(0, -'.partial'.length);
    renameSync(into, final);
    return bytes;
  }

  return {
    dirOf,
    size,

    /** the migrations whose images (complete) are here */
    migrationIds(): number[] {
      const names = roots.flatMap((r) => (existsSync(r) ? readdirSync(r) : []));
      return [...new Set(names.filter((n) => /^\d+$/.test(n)).map(Number))];
    },

    /** an empty directory for a migration's images; lazy: a lazy dump's, under runDir */
    async fresh(migrationId: number, lazy = false): Promise<string> {
      await removeAll(migrationId);
      const dir = join(rootFor(lazy), String(migrationId));
      await mkdir(dir, { recursive: true, mode: 0o700 });
      return dir;
    },

    /** (written at once, as the images are read and written while the program may be stopped) */
    writeMeta(migrationId: number, meta: ImageMeta): void {
      writeMetaIn(dirOf(migrationId), meta);
    },

    /** the same, for images gathered outside the store (a checkpoint) */
    writeMetaIn,

    async writeFileIn(dir: string, name: string, text: string): Promise<void> {
      if (!SAFE_NAME.test(name)) throw new Error(`'${name}' is not a plain file name`);
      await writeFile(join(dir, name), text, { mode: 0o600 });
    },

    readMeta(migrationId: number): ImageMeta | undefined {
      try {
        return readMetaIn(dirOf(migrationId));
      } catch {
        return undefined;
      }
    },

    /** Starts a page server that writes a migration's pages where its images will be received. */
    async startPageServer(migrationId: number, host: string): Promise<PageServer> {
      pageServers.get(migrationId)?.stop();
      // the pages of a move that is not lazy: they go to disk
      const partial = join(diskRoot, `${migrationId}.partial`);
      await rm(partial, { recursive: true, force: true });
      await mkdir(partial, { recursive: true, mode: 0o700 });
      let lastError: unknown;
      for (let attempt = 0; attempt < 3; attempt++) {
        const at = { host, port: await freePort(host) };
        try {
          pageServers.set(migrationId, await criu.pageServer({ imagesDir: partial, at }));
          return at;
        } catch (err) {
          lastError = err; // another program took the port meanwhile
        }
      }
      throw lastError;
    },

    async remove(migrationId: number): Promise<void> {
      pageServers.get(migrationId)?.stop();
      pageServers.delete(migrationId);
      await removeAll(migrationId);
    },

    /** The migration's images, just dumped here for a move, may be used in this run unread. */
    vouch(migrationId: number): void {
      vouched.add(migrationId);
    },

    /** Seals the migration's images (a freeze's, kept on this node's disk until it continues). */
    async seal(migrationId: number): Promise<void> {
      const dir = dirOf(migrationId);
      await writeSeal(dir, sealedNamesIn(dir), key);
    },

    /**
     * Throws GODWIT_ERR_BAD_IMAGES unless the migration's images may be restored: vouched for in
     * this run, or their seal verifies. The restore starts only once this returned.
     */
    async checkSeal(migrationId: number): Promise<void> {
      if (vouched.has(migrationId)) return;
      const dir = dirOf(migrationId);
      const why = await sealProblem(dir, sealedNamesIn(dir), key);
      if (why) throw refused(dir, 'restored', why);
    },

    /**
     * Streams the images to another agent's PUT /v1/images/MIGRATION, with an HMAC trailer (as a
     * checkpoint file's) that the receiver verifies. Sealed images are checked against their
     * seal as they are read: bytes changed at rest are not sent on as godwit's.
     */
    async send(migrationId: number, to: { url: string; token: string }): Promise<{ bytes: number; ms: number }> {
      const t0 = Date.now();
      const dir = dirOf(migrationId);
      let pack: tar.Pack;
      if (vouched.has(migrationId)) pack = packImages(dir);
      else {
        const recorded = await readSeal(dir);
        if (recorded === undefined) throw refused(dir, 'sent', UNSEALED);
        pack = packImages(dir, { key, recorded, fail: (why) => refused(dir, 'sent', why) });
      }
      const url = new URL(`/v1/images/${migrationId}`, to.url);
      const req = request(url, {
        method: 'PUT',
        headers: { authorization: `Bearer ${to.token}`, 'content-type': 'application/x-tar' },
      });
      const reply = new Promise<{ status: number; body: string }>((resolve, reject) => {
        let answered = false;
        req.on('response', (res) => {
          answered = true;
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          res.on('error', reject);
        });
        req.on('error', reject);
        // a pipeline that fails aborts the request, which then closes without an error
        req.on('close', () => {
          if (!answered) reject(new Error('the request was closed before an answer came'));
        });
      });
      // a destination that goes away mid-stream fails each of these; none may go unobserved
      let bytes = 0;
      // signed before coalescing: the trailer goes out in the same write as the tar's end
      const streamed = pipeline(pack, signing(key).stream, coalesced, req);
      try {
        const [, res] = await Promise.all([streamed, reply]);
        if (res.status >= 300) {
          const body = parseApiError(res.body);
          throw body ? GodwitError.fromBody(body) : new Error(`HTTP ${res.status}: ${res.body.slice(0, 200)}`);
        }
        // the destination counts what it holds, pages from a page server included
        bytes = (JSON.parse(res.body) as { bytes: number }).bytes;
      } catch (err) {
        pack.destroy();
        req.destroy();
        const [sending] = await Promise.allSettled([streamed, reply]);
        // the images' own refusal (their seal) says more than the request it cut short
        const cause = sending.status === 'rejected' && sending.reason instanceof GodwitError ? sending.reason : err;
        if (cause instanceof GodwitError) throw cause;
        throw new GodwitError('GODWIT_ERR_TRANSFER_FAILED', `sending the images of migration ${migrationId} to ${to.url} failed: ${(cause as Error).message}`);
      }
      return { bytes, ms: Date.now() - t0 };
    },

    /**
     * Unpacks a signed tar stream (send's) into dataDir/images/MIGRATION (runDir's for a lazy
     * move), verifying its MAC over the very bytes extracted: the directory appears under its
     * name only when complete and verified, and a stream whose MAC does not verify is refused
     * (GODWIT_ERR_BAD_IMAGES) and what came of it removed. written(name, dir): a file is in place
     * in dir (the directory being filled, which nothing restores from). Returns the bytes of
     * images received, a page server's included.
     */
    async receive(migrationId: number, body: Readable, written?: (name: string, dir: string) => void): Promise<number> {
      const fail = (why: string) => refused(`the stream of migration ${migrationId}`, 'received', why);
      // images that all come in the stream are sealed as they are extracted; a page server's
      // pages come outside it, and such images are used in this run only
      const hasher = pageServers.has(migrationId) ? undefined : sealHasher(key);
      const bytes = await unpack(migrationId, Readable.from(verified(body, key, undefined, fail), { objectMode: false }), written, hasher);
      vouched.add(migrationId);
      return bytes;
    },

    /**
     * Unpacks a tar whose bytes the caller verifies as they are read (a checkpoint's, whose
     * stream fails at its end unless they are godwit's), as receive does, unsealed: usable in this
     * run.
     */
    async unpackVerified(migrationId: number, tarStream: Readable): Promise<number> {
      const bytes = await unpack(migrationId, tarStream);
      vouched.add(migrationId);
      return bytes;
    },
  };
}

export type ImageStore = ReturnType<typeof createImageStore>;
