/**
 * Checkpoints: a program's images, the files it was writing in its own directory, and a
 * manifest of every file it had open, packed into one file (checkpoint-file.ts) under the
 * cluster's checkpoint directory; and recoveries from them.
 */
import { constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import {
  GodwitError,
  type AgentConfig,
  type StageCheckpointRequest,
  type StageCheckpointResult,
  type TakeCheckpointResult,
} from '@godwit/schemas';
import { type Account, resolveAccount } from './accounts.js';
import type { SealKey } from './at-rest.js';
import { asOwnerPath, copyAsOwner, fileReason, sizesAsOwner, type SizeNow } from './as-owner.js';
import type { InheritedFile } from './criu.js';
import { errnoName } from './errno.js';
import { MANIFEST, type Manifest, readArchive, writeArchive } from './checkpoint-file.js';
import { carryHelperPath, packCarried, readCarried, releaseHeld } from './carried-files.js';
import type { ImageStore } from './images.js';
import type { Lifecycle } from './lifecycle.js';
import { copyOpenFile, inside, O_ACCMODE, openFiles, type LiveFile, type TreeFile } from './open-files.js';
import { cannotMove, tracerOf, treePids } from './preflight.js';
import { waitFor } from './wait.js';
import type { ProcStore } from './procs.js';

const savedName = (i: number) => `godwit-file-${i}`;

export interface CheckpointDeps {
  config: Readonly<AgentConfig>;
  /** what checkpoint files are sealed with, and checked against (cluster-key.ts, at-rest.ts) */
  clusterKey: Buffer;
  procs: ProcStore;
  images: ImageStore;
  lifecycle: Lifecycle;
  log: FastifyBaseLogger;
}

/** the distinct paths among files, in order: a saved file's content is stored under its index here */
function distinctPaths(files: readonly TreeFile[]): string[] {
  return [...new Set(files.map((f) => f.path))];
}

/** what a file a checkpoint had open is now, to its owner, where its size is not the checkpoint's */
function changedNow(now: SizeNow, account: Account): string {
  if ('size' in now) return `${now.size} bytes now`;
  return errnoName(now.errno) === 'ENOENT' ? 'gone now' : `${account.name} cannot look at it now: ${fileReason(now.errno)}`;
}

/** what a checkpoint in progress leaves beside its work directory, for a restarted agent */
interface InProgress {
  rootPid: number;
  target: string;
}

export function createCheckpoints({ config, clusterKey, procs, images, lifecycle, log }: CheckpointDeps) {
  const root = config.checkpointDir;
  const node = config.node;
  const workRoot = join(config.dataDir, 'checkpoint-work');
  const asOwner = asOwnerPath(config.keeperPath);

  /**
   * A checkpoint this agent was taking when it died: its program may be left stopped (CRIU
   * leaves it so, and only the agent lets it go on), and its half-written file lies beside the
   * user's previous one. Once CRIU has let go of the tree, the program runs on.
   */
  async function finishInterrupted(): Promise<void> {
    if (!existsSync(workRoot)) return;
    for (const name of readdirSync(workRoot).filter((n) => /^\d+\.json$/.test(n))) {
      const id = Number(name.slice(0, -5));
      try {
        const left = JSON.parse(readFileSync(join(workRoot, name), 'utf8')) as InProgress;
        if (procs.current(id)?.rootPid === left.rootPid) {
          await waitFor(() => (treePids(left.rootPid).every((p) => tracerOf(p) === 0) ? true : undefined), {
            timeoutMs: 10 * 60_000,
            intervalMs: 100,
            what: `CRIU to let go of process ${id}`,
          });
          await lifecycle.continueStopped(left.rootPid, []);
        }
        await rm(`${left.target}.partial`, { force: true });
      } finally {
        await rm(join(workRoot, String(id)), { recursive: true, force: true });
        await rm(join(workRoot, name), { force: true });
      }
    }
  }
  // awaited by the next checkpoint, which must not fail for it: what it could not finish is logged
  const interrupted = finishInterrupted().catch((err: unknown) => log.error({ err }, `could not finish the checkpoints this agent was taking when it stopped (${workRoot})`));

  /** a checkpoint path, confined to the checkpoint directory (the schema already refuses '..') */
  function resolveIn(rel: string): string {
    const abs = join(root, rel);
    if (!inside(abs, root)) throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `checkpoint path ${rel} leaves ${root}`);
    return abs;
  }

  /** a checkpoint is sealed for its path: its owner's directory and its name (at-rest.ts) */
  const sealFor = (rel: string): SealKey => ({ key: clusterKey, context: `checkpoint ${rel}` });

  function badCheckpoint(abs: string, why: string): GodwitError {
    return new GodwitError('GODWIT_ERR_BAD_CHECKPOINT', `${abs} is not a usable checkpoint: ${why}`);
  }

  return {
    /**
     * Takes a checkpoint of a running program into `rel`. The tree is stopped from the dump until
     * the files it writes are copied, so images and files agree; then it runs on, or, with
     * 'exit', ends once the checkpoint is safely written (and runs on if it could not be). A file
     * that would pass maxBytes is not kept, and the one at its path stays. compress: LZ4 before
     * the seal (its ratio is plainBytes / bytes).
     */
    async take(id: number, rel: string, then: 'run' | 'exit', { maxBytes, compress }: { maxBytes?: number | undefined; compress: boolean }): Promise<TakeCheckpointResult> {
      const target = resolveIn(rel);
      const cur = lifecycle.running(id);
      const blockers = cannotMove(cur.rootPid, node);
      if (blockers.length) {
        throw new GodwitError('GODWIT_ERR_CANNOT_CHECKPOINT', `process ${id} cannot be checkpointed: ${blockers.join('; ')}; it runs on`, { blockers });
      }
      await interrupted;
      const work = join(workRoot, String(id));
      const marker = `${work}.json`;
      await rm(work, { recursive: true, force: true });
      await mkdir(work, { recursive: true, mode: 0o700 });
      await writeFile(marker, JSON.stringify({ rootPid: cur.rootPid, target } satisfies InProgress), { mode: 0o600 });
      try {
        let stopped;
        try {
          stopped = await lifecycle.dumpStopped(id, work);
        } catch (err) {
          const e = err instanceof GodwitError ? err : new GodwitError('GODWIT_ERR_CANNOT_CHECKPOINT', (err as Error).message);
          throw new GodwitError(e.code === 'GODWIT_ERR_CANNOT_DUMP' ? 'GODWIT_ERR_CANNOT_CHECKPOINT' : e.code, `${e.message}; it runs on`, e.details);
        }
        const { proc, stoppedAt, lockTables, controlMounts, held } = stopped;
        const goOn = () => lifecycle.continueStopped(proc.rootPid, lockTables);
        let files: TreeFile[];
        let stoppedMs: number;
        try {
          // its node-local files go in the checkpoint: a recovery on another node puts them back
          const packed = held.files.length ? await packCarried(carryHelperPath(config.keeperPath), held, work, node) : [];
          const carried = new Set(packed.map((p) => p.file.path));
          const live: LiveFile[] = openFiles(proc.rootPid);
          files = live.map(({ at: _at, ...f }) => (carried.has(f.path) ? { ...f, carried: true } : f));
          for (const [i, p] of distinctPaths(files).entries()) {
            const saved = live.find((f) => f.path === p && f.saved);
            if (saved) await copyOpenFile(saved, join(work, savedName(i)));
          }
          const meta = procs.meta(id);
          images.writeMetaIn(work, {
            version: 1, processId: id, epoch: proc.epoch, rootPid: proc.rootPid, inodes: proc.inodes, lockTables: [], direct: false,
            stdinClosed: procs.stdinClosed(id, proc.epoch), argv: meta?.argv ?? [], cwd: meta?.cwd ?? '/',
            controlMounts,
          });
          const manifest: Manifest = { version: 1, processId: id, node, takenAt: stoppedAt, argv: meta?.argv ?? [], cwd: meta?.cwd ?? '/', files };
          await images.writeFileIn(work, MANIFEST, JSON.stringify(manifest));
        } catch (err) {
          await goOn();
          throw new GodwitError('GODWIT_ERR_CANNOT_CHECKPOINT', `saving the files of process ${id} failed: ${(err as Error).message}; it runs on`);
        } finally {
          releaseHeld(held);
        }
        if (then === 'run') await goOn();
        stoppedMs = Date.now() - stoppedAt;
        let written;
        try {
          written = await writeArchive(work, target, sealFor(rel), { encrypt: config.encryptAtRest !== false, compress, ...(maxBytes === undefined ? {} : { maxBytes }) });
        } catch (err) {
          if (then === 'exit') await goOn();
          if (err instanceof GodwitError) throw err;
          throw new GodwitError('GODWIT_ERR_CANNOT_CHECKPOINT', `writing checkpoint ${target} failed: ${(err as Error).message}; the process runs on`);
        }
        if (then === 'exit') {
          await lifecycle.endStopped(proc.rootPid, lockTables);
          stoppedMs = Date.now() - stoppedAt;
        }
        return { ...written, takenAt: stoppedAt, stoppedMs, files: files.map(({ flags: _flags, fileMode: _mode, ...f }) => f) };
      } finally {
        await rm(work, { recursive: true, force: true });
        await rm(marker, { force: true });
      }
    },

    /**
     * Unpacks a checkpoint into the images of a recovery. Files the program was writing in its
     * own directory come back as they were; any other file that changed since stops the recovery
     * with each one named, unless the user remapped it or accepted the change: those are handed
     * to CRIU already open, so it does not refuse them.
     */
    async stage(req: StageCheckpointRequest): Promise<StageCheckpointResult> {
      const file = resolveIn(req.path);
      if (!existsSync(file)) throw new GodwitError('GODWIT_ERR_NOT_FOUND', `there is no checkpoint ${file}`);
      try {
        // verified while it is unpacked, into a directory of root's that is used only once the tag matched
        await readArchive(file, sealFor(req.path), req.mac, (tar) => images.unpackVerified(req.migrationId, tar), (why) => badCheckpoint(file, why));
      } catch (err) {
        if (err instanceof GodwitError && err.code === 'GODWIT_ERR_BAD_CHECKPOINT') throw err;
        throw badCheckpoint(file, (err as Error).message);
      }
      try {
        const dir = images.dirOf(req.migrationId);
        const manifest = JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as Manifest;
        const meta = images.readMeta(req.migrationId);
        if (!meta) throw badCheckpoint(file, 'it has no image description');
        const paths = distinctPaths(manifest.files);
        const remapped = new Map<string, string>();
        for (const f of manifest.files) {
          const to = req.remap[String(f.fd)];
          if (to !== undefined) remapped.set(f.path, to);
        }
        const account = await resolveAccount(req.account, node);
        const isSaved = (path: string) => manifest.files.some((x) => x.path === path && x.saved);
        // node-local files it carries come back with it (restore.ts puts them in place)
        const carried = new Set(readCarried(dir)?.files.map((f) => f.path));
        const looked = paths.filter((p) => !remapped.has(p) && !isSaved(p) && !carried.has(p));
        const sizes = await sizesAsOwner(asOwner, account, looked, node);
        const sizeOf = new Map(looked.map((p, i) => [p, sizes[i]!]));
        const inherit: InheritedFile[] = [];
        const writeBack: { from: string; to: string; mode: number }[] = [];
        const changed: string[] = [];
        for (const [i, path] of paths.entries()) {
          const f = manifest.files.find((x) => x.path === path)!;
          const keep = f.flags & (O_ACCMODE | constants.O_APPEND);
          const to = remapped.get(path);
          if (to !== undefined) {
            inherit.push({ path, open: to, flags: keep | (f.mode === 'r' ? 0 : constants.O_CREAT), offset: f.offset });
          } else if (isSaved(path)) {
            writeBack.push({ from: join(dir, savedName(i)), to: path, mode: f.fileMode });
            // it comes back without setuid, setgid or sticky bits: CRIU, seeing another mode than
            // the checkpoint's, would refuse it, so it gets it open
            if (f.fileMode & ~0o777) inherit.push({ path, open: path, flags: keep, offset: f.offset });
          } else if (!carried.has(path)) {
            const now = sizeOf.get(path)!;
            if ('size' in now && now.size === f.size) continue;
            if (req.acceptChanged && 'size' in now) inherit.push({ path, open: path, flags: keep, offset: Math.min(f.offset, now.size) });
            else changed.push(`${path} (fd ${f.fd}): ${f.size} bytes at the checkpoint, ${changedNow(now, account)}`);
          }
        }
        if (changed.length) {
          throw new GodwitError(
            'GODWIT_ERR_FILES_CHANGED',
            `files that process ${manifest.processId} had open changed since its checkpoint ${file}: ${changed.join('; ')}. ` +
              'Give it another file with -O FD=FILE, or go on with the files as they are now with --accept-changed',
            { changed },
          );
        }
        if (writeBack.length) await copyAsOwner(asOwner, account, writeBack, node);
        images.writeMeta(req.migrationId, { ...meta, processId: req.processId, inherit });
        return {
          inodes: meta.inodes,
          argv: meta.argv,
          cwd: meta.cwd,
          restoredFiles: writeBack.map((w) => w.to),
          substituted: inherit.filter((i) => !writeBack.some((w) => w.to === i.path)).map((i) => (i.open === i.path ? i.path : `${i.path} -> ${i.open}`)),
        };
      } catch (err) {
        await images.remove(req.migrationId);
        throw err;
      }
    },

    /**
     * MOSIX mosrun -I: the sizes now of the files a checkpoint's record names, as its owner sees
     * them (null: gone, out of the owner's reach, or reached only through a symbolic link)
     */
    async sizesNow(accountName: string, paths: readonly string[]): Promise<(number | null)[]> {
      const sizes = await sizesAsOwner(asOwner, await resolveAccount(accountName, node), paths, node);
      return sizes.map((now) => ('size' in now ? now.size : null));
    },
  };
}

export type Checkpoints = ReturnType<typeof createCheckpoints>;
