/**
 * The node-local files a move carries, sent ahead while the program still runs (issue 20: they
 * must not cost the stopped time their bytes would). The source streams each file's data
 * extents straight from the descriptor it holds (carried-files.ts streamCarried: no copy on
 * disk), sealed for this move apart from its images, to the destination, which writes them as
 * the owner's, complete (sparse, mode, times; synced once all came), into a stage of the move's
 * own: DATA_DIR/carry-staging/MIGRATION/files, beneath a directory only root may enter. While the
 * program is stopped the source packs again only the files that are no longer the version it
 * sent (dev, inode, size, mtime, ctime, as the held descriptor shows them at the stop against
 * what it showed while it was read), and the destination's restore renames each staged one
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
import { carryHelperPath, ctimeOfIdentity, firstLine, holdCarried, releaseHeld, stageStreamed, streamCarried } from './carried-files.js';
import { GONE, passingOver, passOverOrBadJson } from './expected-errors.js';
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
/** the source's own: which versions it sent (identity -> staged name) */
const sentDir = (dataDir: string) => join(dataDir, 'carry-ahead');
const sentOf = (dataDir: string, migrationId: number) => join(sentDir(dataDir), `${migrationId}.json`);

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
  // what a restarted agent sent belongs to pre-copies that ended with it; what it staged may yet
  // be restored, until the orchestrator says its move ended (pruneStages)
  rmSync(sentDir(dataDir), { recursive: true, force: true });
  mkdirSync(stagingRoot(dataDir), { recursive: true, mode: 0o700 });
  mkdirSync(sentDir(dataDir), { recursive: true, mode: 0o700 });

  /** the destination refused or failed the pre-copy: in words naming what */
  const failed = (mid: number, why: string) => new GodwitError('GODWIT_ERR_TRANSFER_FAILED', `the files carried ahead of migration ${mid} could not be staged on ${node}: ${why}`);

  return {
    /**
     * Source: streams the files process id would carry, as they are now, to the destination's
     * stage, and keeps which versions it sent whole. Returns the bytes sent (none where it
     * carries no regular file).
     */
    async send(id: number, migrationId: number, to: SendRequest['to']): Promise<SendResult> {
      const t0 = Date.now();
      const cur = procs.current(id);
      const account = procs.meta(id)?.account;
      if (!cur || cur.state !== 'running') throw new GodwitError('GODWIT_ERR_PROCESS_NOT_RUNNING', `process ${id} is not running on ${node}`);
      const { carried } = carryOf(config, id, cur.rootPid);
      if (!carried.length || account === undefined) return { bytes: 0, ms: Date.now() - t0 };
      const held = holdCarried(config.nodeLocal, carried, await resolveAccount(account, node));
      try {
        if (!held.files.some((f) => f.fd !== undefined)) return { bytes: 0, ms: Date.now() - t0 };
        const since = Date.now();
        const { stream, sent } = streamCarried(helper, held, account);
        const bytes = await sendImages(stream, key, migrationId, to, { agent: peers, ahead: true });
        // the version sent whole: unchanged while it was read, and not within a clock tick before
        const settled = (await sent).filter((s) => s.before === s.after && s.held.used.kind !== 'mapped' && Number(ctimeOfIdentity(s.before) / 1_000_000n) < since - SAME_TICK_MS);
        writeFileSync(sentOf(dataDir, migrationId), JSON.stringify(settled.map((s) => [s.before, s.name])), { mode: 0o600 });
        return { bytes, ms: Date.now() - t0 };
      } finally {
        releaseHeld(held);
      }
    },

    /**
     * Destination: takes a pre-copy's sealed stream (each segment verified before a byte of it
     * reaches the stage), and writes its files into the move's stage as the owner it names.
     */
    async receive(migrationId: number, body: Readable): Promise<{ bytes: number }> {
      const base = join(stagingRoot(dataDir), String(migrationId));
      rmSync(base, { recursive: true, force: true });
      const stage = stageOf(dataDir, migrationId);
      let bytes = 0;
      async function* counted(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
        for await (const chunk of source) {
          bytes += chunk.length;
          yield chunk;
        }
      }
      try {
        mkdirSync(base, { recursive: true, mode: 0o700 });
        const first = await firstLine(counted(opened(body, aheadSeal(key, migrationId), undefined, (why) => failed(migrationId, why))), 64 * 1024);
        const account = first ? ownerNamed(first.line) : undefined;
        if (!first || account === undefined) throw failed(migrationId, 'the stream names no owner for its files');
        const owner = await resolveAccount(account, node);
        // the owner's own directory, inside the agent's (0700): nobody else reaches it
        mkdirSync(stage, { mode: 0o700 });
        chownSync(stage, owner.uid, owner.gid);
        await stageStreamed(helper, owner, stage, first.rest);
        return { bytes };
      } catch (err) {
        rmSync(base, { recursive: true, force: true });
        throw err;
      }
    },
  };
}

/** the account a pre-copy's first line names ({"account": NAME}) */
function ownerNamed(line: string): string | undefined {
  try {
    const named = JSON.parse(line) as { account?: unknown } | null;
    return typeof named?.account === 'string' ? named.account : undefined;
  } catch (err) {
    passOverOrBadJson(err, []);
    return undefined;
  }
}

export type CarryAhead = ReturnType<typeof createCarryAhead>;
