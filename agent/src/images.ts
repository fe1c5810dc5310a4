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
 * agent dumped for a move or received, verified, in this run; or those kept at rest, sealed in
 * one file (frozen-images.ts: a freeze's, a full-copy move's on the source's disk), which are
 * verified segment by segment as they are read to be sent on or unpacked for a restore. Between
 * agents they travel sealed as a checkpoint file is (at-rest.ts): the receiver verifies each
 * segment before it extracts it into a root-only directory, which appears under its name only
 * once the whole stream verified.
 */
import type { Agent } from 'node:http';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { GodwitError, type SendRequest } from '@godwit/schemas';
import { opened } from './at-rest.js';
import type { Criu } from './criu.js';
import { hasCode } from './expected-errors.js';
import { frozenFile, frozenSeal, type FrozenFor, type FrozenOwner, readFrozen, readFrozenFor, removeFrozen, writeFrozen } from './frozen-images.js';
import { extractImages, packImages } from './image-archive.js';
import { META_FILE, readMetaIn, SAFE_NAME, type ImageMeta } from './image-meta.js';
import { sendImages, transferSeal } from './image-transfer.js';
import { killCriu } from './criu-process.js';
import { lazyPagesIn } from './lazy.js';
import { createPortPicker, type PortPicker } from './page-server-ports.js';
import { createPageServers, partialDir } from './page-servers.js';

/** the seal of an earlier godwit's frozen images (an HMAC, not encryption): recognised only to refuse them */
const OLD_SEAL = 'godwit.mac';

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
  /** the file a migration's images are kept in at rest (frozen-images.ts) */
  const frozenOf = (migrationId: number) => frozenFile(diskRoot, migrationId);
  /**
   * migrations whose images this agent dumped for a move, or verified as it extracted them, in
   * this run: their bytes are known to be godwit's without reading them again (a lazy move's
   * restore and a direct move's send happen while the program is stopped). Any others are used
   * only from their file at rest, verified as it is read.
   */
  const vouched = new Set<number>();
  const refused = (dir: string, what: string, why: string) =>
    new GodwitError('GODWIT_ERR_BAD_IMAGES', `the images in ${dir} are not ${what}: ${why}`, { imagesDir: dir });
  /**
   * What stands in the way of using the migration's images in dir other than from their file at
   * rest: they were received or unpacked before this agent restarted (nothing vouches for them
   * now), or they are a freeze of a godwit before images were encrypted at rest, sealed by an
   * HMAC in godwit.mac beside them, which this agent does not take: it restores only images that
   * did not lie on the disk in clear.
   */
  const unverified = (dir: string): string =>
    existsSync(join(dir, OLD_SEAL))
      ? `they were frozen by an earlier godwit, which sealed them with ${join(dir, OLD_SEAL)} and did not encrypt them; this agent restores only images kept sealed in one file at rest: end the process (SIGKILL) to drop them, or continue it with an agent of that earlier godwit`
      : 'they were received or unpacked before this agent restarted, and nothing vouches for them now';
  // images a previous run of this agent was receiving or packing can never be completed: the
  // orchestrator fails those migrations, so their partial files are only litter, and a
  // lazy-pages daemon started for one would wait for its restore forever
  for (const root of roots.filter((r) => existsSync(r))) {
    for (const name of readdirSync(root)) {
      if (!name.endsWith('.partial')) continue;
      const pager = statSync(join(root, name)).isDirectory() ? lazyPagesIn(join(root, name)) : undefined;
      if (pager !== undefined) killCriu(pager);
      rmSync(join(root, name), { recursive: true, force: true });
    }
  }

  async function removeAll(migrationId: number): Promise<void> {
    vouched.delete(migrationId);
    for (const d of everyDirOf(migrationId)) await rm(d, { recursive: true, force: true });
    await removeFrozen(frozenOf(migrationId));
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
   * appears only when complete, vouched for in this run.
   */
  async function unpack(migrationId: number, body: Readable, written?: (name: string, dir: string) => void): Promise<number> {
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
      const extracted = await extractImages(body, { place, written });
      bytes = extracted.bytes;
      into = place(false);
      const meta = readMetaIn(into);
      if (await pageServers.settle(migrationId, meta.direct)) {
        // the pages it wrote (not its log)
        for (const name of readdirSync(into)) if (!extracted.received.has(name) && !name.endsWith('.log')) bytes += statSync(join(into, name)).size;
      }
    } catch (err) {
      pageServers.stop(migrationId);
      if (partial) await rm(partial, { recursive: true, force: true });
      if (err instanceof GodwitError) throw err;
      throw new GodwitError('GODWIT_ERR_TRANSFER_FAILED', `receiving the images of migration ${migrationId} failed: ${(err as Error).message}`);
    }
    for (const root of roots) rmSync(join(root, String(migrationId)), { recursive: true, force: true });
    const final = into.slice(0, -'.partial'.length);
    renameSync(into, final);
    vouched.add(migrationId);
    return bytes;
  }

  /** the migration's images' description; undefined when there are none here, or they are at rest */
  function readMeta(migrationId: number): ImageMeta | undefined {
    try {
      return readMetaIn(dirOf(migrationId));
    } catch (err) {
      // none here, or a description cut short by the agent's end: no images to use either way
      if (hasCode(err, ['ENOENT']) || err instanceof SyntaxError) return undefined;
      throw err;
    }
  }

  /**
   * who the migration's file at rest says it is sealed for, as process processId's (a file sealed
   * for another process then fails to open); undefined when there is no file
   */
  function frozenOwner(migrationId: number, processId: number): FrozenOwner | undefined {
    const file = frozenOf(migrationId);
    if (!existsSync(file)) return undefined;
    const sealed = readFrozenFor(file);
    if (!sealed) throw refused(file, 'used', `${file}.json, which says whose they are, is missing`);
    return { processId, epoch: sealed.epoch, account: sealed.account };
  }

  return {
    dirOf,
    size,

    /** the migrations whose images (complete, as files a restore reads: not those at rest) are here */
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

    readMeta,

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

    /**
     * Keeps the migration's images (a freeze's, or a full-copy move's) in one file sealed for
     * owner (frozen-images.ts), encrypted unless encrypt is false, and removes them in clear.
     */
    async keepAtRest(migrationId: number, owner: FrozenOwner, encrypt: boolean): Promise<void> {
      const dir = dirOf(migrationId);
      const lockTables = readMetaIn(dir).lockTables;
      await writeFrozen(dir, frozenOf(migrationId), frozenSeal(key, migrationId, owner), encrypt, { ...owner, lockTables });
    },

    /** what the migration's images kept at rest say of themselves (the dump's lock tables); undefined when there are none */
    frozenFor(migrationId: number): FrozenFor | undefined {
      return readFrozenFor(frozenOf(migrationId));
    },

    /** the bytes the migration's images take here (their file at rest, or their directory); undefined when there are none */
    bytesOf(migrationId: number): number | undefined {
      if (existsSync(frozenOf(migrationId))) return statSync(frozenOf(migrationId)).size;
      return readMeta(migrationId) ? size(dirOf(migrationId)) : undefined;
    },

    /**
     * Makes the migration's images ready to restore as owner's: vouched for in this run, or
     * unpacked from their file at rest, every segment verified and sealed for owner (GODWIT_ERR_BAD_IMAGES otherwise, and nothing of them unpacked). Images
     * nothing vouches for are refused, saying why. The restore starts only once this returned.
     */
    async thaw(migrationId: number, owner: FrozenOwner): Promise<void> {
      if (vouched.has(migrationId)) return;
      const file = frozenOf(migrationId);
      if (existsSync(file)) {
        await readFrozen(file, frozenSeal(key, migrationId, owner), (tar) => unpack(migrationId, tar), (why) => refused(file, 'restored', why));
        return;
      }
      const dir = dirOf(migrationId);
      if (readMeta(migrationId)?.processId === owner.processId) throw refused(dir, 'restored', unverified(dir));
    },

    /** A restore from images unpacked from their file at rest failed: they are removed in clear, the file stays. */
    async refreeze(migrationId: number): Promise<void> {
      if (!existsSync(frozenOf(migrationId))) return;
      vouched.delete(migrationId);
      for (const d of everyDirOf(migrationId)) await rm(d, { recursive: true, force: true });
    },

    /**
     * Streams process processId's images to another agent (image-transfer.ts): those vouched for
     * in this run as they are, those at rest from their file, each segment verified before it is
     * sent on (bytes changed at rest end the stream, and the destination keeps nothing of it);
     * compress: LZ4 before the seal (the destination sees so in the stream's header).
     * Throws GODWIT_ERR_NOT_FOUND when it holds none of that process's.
     */
    async send(migrationId: number, processId: number, to: SendRequest['to'], compress = false): Promise<{ bytes: number; ms: number }> {
      const t0 = Date.now();
      const dir = dirOf(migrationId);
      const sealed = frozenOwner(migrationId, processId);
      let bytes: number;
      if (vouched.has(migrationId) && readMeta(migrationId)?.processId === processId) bytes = await sendImages(packImages(dir), key, migrationId, to, { agent: peers, compress });
      else if (sealed) {
        const file = frozenOf(migrationId);
        bytes = await readFrozen(file, frozenSeal(key, migrationId, sealed), (tar) => sendImages(tar, key, migrationId, to, { agent: peers, compress }), (why) => refused(file, 'sent', why));
      } else if (readMeta(migrationId)?.processId === processId) throw refused(dir, 'sent', unverified(dir));
      else throw new GodwitError('GODWIT_ERR_NOT_FOUND', `this node holds no images of process ${processId} for migration ${migrationId}`);
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
      // used in this run only: they are restored at once, and a move whose destination
      // restarted meanwhile goes back to its source's images (or stays frozen there)
      return unpack(migrationId, Readable.from(opened(body, transferSeal(key, migrationId), undefined, fail), { objectMode: false }), written);
    },

    /**
     * Unpacks a tar whose bytes the caller verifies as they are read (a checkpoint's, whose
     * stream fails at its end unless they are godwit's), as receive does: usable in this run.
     */
    async unpackVerified(migrationId: number, tarStream: Readable): Promise<number> {
      return unpack(migrationId, tarStream);
    },
  };
}

export type ImageStore = ReturnType<typeof createImageStore>;
