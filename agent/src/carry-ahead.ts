/**
 * The node-local files a move carries, sent ahead while the program still runs (issue 20: they
 * must not cost the stopped time their bytes would). The source packs them (carried-files.ts) and
 * streams them, sealed for this move apart from its images, to the destination, which writes
 * them as the owner's, complete (sparse, mode, times, synced), into a stage of the move's own:
 * DATA_DIR/carry-staging/MIGRATION/files, beneath a directory only root may enter. While the
 * program is stopped the source packs again only the files that are no longer the version it
 * sent (dev, inode, size, mtime, ctime), and the destination's restore renames each staged one
 * into place (copies it where the stage lies on another file system). A move that fails, or
 * ends, takes its stage away (discard); the source's files are removed only after success, as
 * before. A stage outlives a restart of its agent, as its move may go on; once the orchestrator
 * says which moves to this node are still in flight, the stages of the others go (pruneStages).
 */
import type { Agent } from 'node:http';
import { chownSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { type AgentConfig, GodwitError, type SendRequest, type SendResult, type StagePruneRequest } from '@godwit/schemas';
import { type Account, keeperUser, resolveAccount } from './accounts.js';
import { opened } from './at-rest.js';
import { carryOf } from './carry-plan.js';
import { type CarriedFile, carryHelperPath, holdCarried, packCarried, readCarried, releaseHeld } from './carried-files.js';
import { fileReason } from './as-owner.js';
import { GONE, passingOver } from './expected-errors.js';
import { extractImages, packImages } from './image-archive.js';
import { aheadSeal, sendImages } from './image-transfer.js';
import type { ProcStore } from './procs.js';

/**
 * A file's times change at the kernel's clock tick: one written again within a tick of being
 * packed keeps the times it was packed with. A file changed this recently before its pre-copy
 * began is packed again at the stop whatever its identity says.
 */
const SAME_TICK_MS = 1000;

const stagingRoot = (dataDir: string) => join(dataDir, 'carry-staging');
/** where the destination stages the files sent ahead for a move (staged files by the name the source packed them as) */
export const stageOf = (dataDir: string, migrationId: number) => join(stagingRoot(dataDir), String(migrationId), 'files');
/** the source's own: the pack it sends, and which versions it sent (identity -> staged name) */
const packDirOf = (dataDir: string, migrationId: number) => join(dataDir, 'carry-ahead', String(migrationId));
const sentOf = (dataDir: string, migrationId: number) => join(dataDir, 'carry-ahead', `${migrationId}.json`);

/** Source, at the stop: which versions of its files the destination has staged (identity -> staged name) */
export function sentAhead(dataDir: string, migrationId: number): Map<string, string> {
  const text = passingOver(GONE, undefined, () => readFileSync(sentOf(dataDir, migrationId), 'utf8'));
  return new Map(text === undefined ? [] : (JSON.parse(text) as [string, string][]));
}

/**
 * Destination: removes the stages of moves up to `upTo` that are not in `keep` (the moves to this
 * node still in flight when the orchestrator looked); a later move's stage stays. Returns the
 * migrations whose stages went.
 */
export function pruneStages(dataDir: string, { keep, upTo }: StagePruneRequest): number[] {
  const kept = new Set(keep);
  const stale = readdirSync(stagingRoot(dataDir)).filter((name) => /^\d+$/.test(name)).map(Number).filter((mid) => mid <= upTo && !kept.has(mid));
  for (const mid of stale) rmSync(join(stagingRoot(dataDir), String(mid)), { recursive: true, force: true });
  return stale;
}

/** The move ended (on either node): its stage, or what the source kept of what it sent, goes. */
export function discardAhead(dataDir: string, migrationId: number): void {
  rmSync(join(stagingRoot(dataDir), String(migrationId)), { recursive: true, force: true });
  rmSync(sentOf(dataDir, migrationId), { force: true });
}

/**
 * Writes the packed files in `from` (carried-N, as CarriedFile.data names them) into the stage, as
 * the owner's, each under its packed name: complete, ready to be renamed into place.
 */
export async function stageCarried(helper: string, owner: Account, stage: string, from: string, carried: readonly CarriedFile[]): Promise<void> {
  const files = carried.filter((f) => f.data);
  const args = files.flatMap((f) => [join(from, f.data!), f.data!, f.mode.toString(8), String(f.size), f.atimeNs, f.mtimeNs, f.extents]);
  const r = await execa(helper, ['place', keeperUser(owner), stage, ...args], { reject: false, timeout: 10 * 60_000 });
  if (r.exitCode === 0) return;
  const why = String(r.stdout).split('\n').flatMap((l) => {
    const m = /^(\d+) (\w+) (\d+)$/.exec(l);
    return m ? [`${files[Number(m[1])]?.path}: ${m[2]} ${fileReason(Number(m[3]))}`] : [];
  });
  throw new GodwitError('GODWIT_ERR_TRANSFER_FAILED', `the files carried ahead could not be staged: ${why.join('; ') || String(r.stderr).trim() || `godwit-carry exited ${r.exitCode}`}`);
}

export interface CarryAheadDeps {
  config: Readonly<AgentConfig>;
  key: Buffer;
  procs: ProcStore;
  /** for an https destination: the agent that shows this node's certificate */
  peers?: Agent;
}

export function createCarryAhead({ config, key, procs, peers }: CarryAheadDeps) {
  const helper = carryHelperPath(config.keeperPath);
  const { dataDir, node } = config;
  // what a restarted agent packed to send belongs to pre-copies that ended with it; what it staged
  // may yet be restored, until the orchestrator says its move ended (pruneStages)
  rmSync(join(dataDir, 'carry-ahead'), { recursive: true, force: true });
  mkdirSync(stagingRoot(dataDir), { recursive: true, mode: 0o700 });

  /** the destination refused or failed the pre-copy: in words naming what */
  const failed = (mid: number, why: string) => new GodwitError('GODWIT_ERR_TRANSFER_FAILED', `the files carried ahead of migration ${mid} could not be staged on ${node}: ${why}`);

  return {
    /**
     * Source: packs the files process id would carry, as they are now, and sends them to the
     * destination's stage. Returns the bytes sent (none where it carries nothing).
     */
    async send(id: number, migrationId: number, to: SendRequest['to']): Promise<SendResult> {
      const t0 = Date.now();
      const cur = procs.current(id);
      const account = procs.meta(id)?.account;
      if (!cur || cur.state !== 'running') throw new GodwitError('GODWIT_ERR_PROCESS_NOT_RUNNING', `process ${id} is not running on ${node}`);
      const { carried } = carryOf(config, id, cur.rootPid);
      if (!carried.length || account === undefined) return { bytes: 0, ms: Date.now() - t0 };
      const held = holdCarried(config.nodeLocal, carried, await resolveAccount(account, node));
      const dir = packDirOf(dataDir, migrationId);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      try {
        const since = Date.now();
        const packed = await packCarried(helper, held, dir, node, undefined, account);
        const bytes = await sendImages(packImages(dir), key, migrationId, to, { agent: peers, ahead: true });
        const settled = packed.filter((p) => p.file.data && p.held.used.kind !== 'mapped' && Number(BigInt(p.identity.split(':')[4]!) / 1_000_000n) < since - SAME_TICK_MS);
        writeFileSync(sentOf(dataDir, migrationId), JSON.stringify(settled.map((p) => [p.identity, p.file.data])), { mode: 0o600 });
        return { bytes, ms: Date.now() - t0 };
      } finally {
        releaseHeld(held);
        rmSync(dir, { recursive: true, force: true });
      }
    },

    /**
     * Destination: takes a pre-copy's sealed stream (each segment verified before a byte of it is
     * extracted), and writes its files into the move's stage as the owner the source names.
     */
    async receive(migrationId: number, body: Readable): Promise<{ bytes: number }> {
      const base = join(stagingRoot(dataDir), String(migrationId));
      rmSync(base, { recursive: true, force: true });
      const incoming = join(base, 'in');
      const stage = stageOf(dataDir, migrationId);
      try {
        mkdirSync(incoming, { recursive: true, mode: 0o700 });
        const stream = Readable.from(opened(body, aheadSeal(key, migrationId), undefined, (why) => failed(migrationId, why)), { objectMode: false });
        const { bytes } = await extractImages(stream, { place: () => incoming });
        const manifest = readCarried(incoming);
        if (!manifest?.account) throw failed(migrationId, 'the stream holds no list of files and their owner');
        const owner = await resolveAccount(manifest.account, node);
        // the owner's own directory, inside the agent's (0700): nobody else reaches it
        mkdirSync(stage, { mode: 0o700 });
        chownSync(stage, owner.uid, owner.gid);
        await stageCarried(helper, owner, stage, incoming, manifest.files);
        return { bytes };
      } catch (err) {
        rmSync(base, { recursive: true, force: true });
        throw err;
      } finally {
        rmSync(incoming, { recursive: true, force: true });
      }
    },
  };
}

export type CarryAhead = ReturnType<typeof createCarryAhead>;
