/**
 * Image directories under dataDir/images/MIGRATION, and moving them between agents
 * (image-archive.ts, image-transfer.ts, page-servers.ts).
 *
 * A lazy move's images, which hold no memory pages (some 30 small files), live under
 * runDir/images instead, where the agent has one: a tmpfs, since they are written while the
 * program is stopped and a disk's file creation costs far more than a tmpfs's. They are needed
 * only until the program runs at the destination and its memory is there: a tmpfs survives an
 * agent restart, and whatever ends it (the machine's restart) ends the stopped program at the
 * source as well.
 *
 * Images are used (sent or restored) only when their bytes are known to be godwit's: those this
 * agent dumped for a move or received, verified, in this run, or those whose seal verifies
 * (image-seal.ts: a freeze's, or those kept after a move). Between agents they travel sealed as
 * a checkpoint file is (at-rest.ts): the receiver verifies each segment before it extracts it
 * into a root-only directory, which appears under its name only once the whole stream verified.
 */
import type { Agent } from 'node:http';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type tar from 'tar-stream';
import { GodwitError, type SendRequest } from '@godwit/schemas';
import { opened } from './at-rest.js';
import type { Criu } from './criu.js';
import { hasCode } from './expected-errors.js';
import { extractImages, packImages } from './image-archive.js';
import { META_FILE, readMetaIn, SAFE_NAME, sealedNamesIn, type ImageMeta } from './image-meta.js';
import { readSeal, SEAL_FILE, sealHasher, type SealHasher, sealProblem, UNSEALED, writeSeal } from './image-seal.js';
import { sendImages, transferSeal } from './image-transfer.js';
import { killCriu, lazyPagesPidIn } from './lazy.js';
import { createPortPicker, type PortPicker } from './page-server-ports.js';
import { createPageServers, partialDir } from './page-servers.js';

/**
 * key: the cluster key; runDir: where a lazy move's images go (a tmpfs), dataDir's when unset;
 * ports: where page servers receiving pages here listen; peers: how images go to other agents
 * (over https, with this node's certificate), if not plain http
 */
export function createImageStore(dataDir: string, criu: Criu, key: Buffer, runDir = dataDir, ports: PortPicker = createPortPicker(), peers?: Agent) {
  const diskRoot = join(dataDir, 'images');
  const runRoot = join(runDir, 'images');
  const roots = [...new Set([runRoot, diskRoot])];
  const rootFor = (lazy: boolean) => (lazy ? runRoot : diskRoot);
  /** where a migration's images are, or would be without a lazy move */
  const dirOf = (migrationId: number) => {
    const run = join(runRoot, String(migrationId));
    return existsSync(run) ? run : join(diskRoot, String(migrationId));
  };
  const everyDirOf = (migrationId: number) => roots.flatMap((r) => [join(r, String(migrationId)), partialDir(r, migrationId)]);
  const pageServers = createPageServers(criu, diskRoot, ports);
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
    // pages received by a page server are already in the disk's partial directory
    let partial = pageServers.of(migrationId) ? partialDir(diskRoot, migrationId) : undefined;
    // where they go is known from godwit.json, the first entry: under runDir for a lazy move
    const place = (lazy: boolean): string => {
      if (partial) return partial;
      partial = partialDir(rootFor(lazy), migrationId);
      rmSync(partial, { recursive: true, force: true });
      mkdirSync(partial, { recursive: true, mode: 0o700 });
      return partial;
    };
    let into: string;
    let bytes: number;
    try {
      const extracted = await extractImages(body, { place, written, ...(hasher ? { hasher } : {}) });
      bytes = extracted.bytes;
      into = place(false);
      const meta = readMetaIn(into);
      if (await pageServers.settle(migrationId, meta.direct)) {
        // the pages it wrote (not its log)
        for (const name of readdirSync(into)) if (!extracted.received.has(name) && !name.endsWith('.log')) bytes += statSync(join(into, name)).size;
      }
      if (hasher) writeFileSync(join(into, SEAL_FILE), hasher.hex(), { mode: 0o600 });
    } catch (err) {
      pageServers.stop(migrationId);
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

    /** the migration's images' description; undefined when there are none here */
    readMeta(migrationId: number): ImageMeta | undefined {
      try {
        return readMetaIn(dirOf(migrationId));
      } catch (err) {
        // none here, or a description cut short by the agent's end: no images to use either way
        if (hasCode(err, ['ENOENT']) || err instanceof SyntaxError) return undefined;
        throw err;
      }
    },

    startPageServer: pageServers.start,

    /** the page server receiving the migration's pages, if one is */
    pageServerOf: pageServers.of,

    async remove(migrationId: number): Promise<void> {
      pageServers.stop(migrationId);
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
     * Streams the images to another agent (image-transfer.ts). Sealed images are checked against
     * their seal as they are read: bytes changed at rest are not sent on as godwit's.
     */
    async send(migrationId: number, to: SendRequest['to']): Promise<{ bytes: number; ms: number }> {
      const t0 = Date.now();
      const dir = dirOf(migrationId);
      let pack: tar.Pack;
      if (vouched.has(migrationId)) pack = packImages(dir);
      else {
        const recorded = await readSeal(dir);
        if (recorded === undefined) throw refused(dir, 'sent', UNSEALED);
        pack = packImages(dir, { key, recorded, fail: (why) => refused(dir, 'sent', why) });
      }
      const bytes = await sendImages(pack, key, migrationId, to, peers);
      return { bytes, ms: Date.now() - t0 };
    },

    /**
     * Unpacks a sealed tar stream (send's) into dataDir/images/MIGRATION (runDir's for a lazy
     * move), each segment verified before it is extracted: the directory appears under its
     * name only when complete and verified, and a stream whose seal does not verify is refused
     * (GODWIT_ERR_BAD_IMAGES) and what came of it removed. written(name, dir): a file is in place
     * in dir (the directory being filled, which nothing restores from). Returns the bytes of
     * images received, a page server's included.
     */
    async receive(migrationId: number, body: Readable, written?: (name: string, dir: string) => void): Promise<number> {
      const fail = (why: string) => refused(`the stream of migration ${migrationId}`, 'received', why);
      // images that all come in the stream are sealed as they are extracted; a page server's
      // pages come outside it, and such images are used in this run only
      const hasher = pageServers.of(migrationId) ? undefined : sealHasher(key);
      const bytes = await unpack(migrationId, Readable.from(opened(body, transferSeal(key, migrationId), undefined, fail), { objectMode: false }), written, hasher);
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
