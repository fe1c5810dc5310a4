/**
 * Dumping a running program into a migration's images (a move or a freeze), and into a
 * checkpoint's directory, leaving it stopped. A migration's dump runs these steps in order:
 *   1. refuseUnmovable   say in words why the tree cannot leave, its files included, before anything stops
 *   2. holdCarried       open the node-local files it carries, as it holds them (carried-files.ts)
 *   3. dumpTree          CRIU dumps it (out of the CPU quota, see dump-lock.ts), and the held files are packed with it
 *   4. releaseSource     direct/lazy: hold it stopped here; otherwise: end it here, keep its input
 *   5. describeImages    godwit.json: what the destination needs to restore
 *   6. vouchOrKeep       how the images' bytes are later known to be godwit's
 * A dump that fails leaves no images.
 */
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { GodwitError, type AgentProc, type DumpResult, type PageServer } from '@godwit/schemas';
import { resolveAccount } from './accounts.js';
import { carryOf, socketBlockers } from './carry-plan.js';
import { sentAhead } from './carry-ahead.js';
import { carryHelperPath, holdCarried, packCarried, packedPlaces, readCarried, recordPacked, releaseHeld, takePacked, type HeldFiles } from './carried-files.js';
import { controlMountsOf } from './control-mount.js';
import type { LazyDaemon } from './criu.js';
import { localMountsOf } from './node-local.js';
import type { DumpAlone } from './dump-lock.js';
import { UNREAD_FILE } from './image-meta.js';
import { holdStopped } from './lazy.js';
import type { LazyDaemons } from './lazy-daemons.js';
import type { LifecycleContext } from './lifecycle-deps.js';
import { canResumeAfterDump, cannotMove, cannotMoveLazily } from './preflight.js';
import { awaitDumpedEnd, keepHomePid } from './source-end.js';

/** what the tree was when its dump began, and how its images are to be made */
interface DumpPlan {
  id: number;
  migrationId: number;
  cur: AgentProc;
  lazy: boolean;
  /** its pages go straight to the destination (a page server, or served lazily): it stays stopped here */
  direct: boolean;
  pageServer: PageServer | undefined;
  controlMounts: string[];
  /** CRIU's --ghost-limit: the largest file the tree holds deleted (carry-plan.ts) */
  ghostLimit: number;
  localMounts: string[];
  /** the node-local files it carries, held open until packed */
  held: HeldFiles;
}

/** what dumpTree made of the tree */
interface Dumped {
  dir: string;
  stoppedAt: number;
  dumpMs: number;
  lockTables: string[];
  lazyAt: PageServer | undefined;
  server: LazyDaemon | undefined;
}

export function createDumper(ctx: LifecycleContext, dumpAlone: DumpAlone, lazyDaemons: Pick<LazyDaemons, 'track'>) {
  const { config, node, criu, procs, images, ports } = ctx;

  function running(id: number): AgentProc {
    const cur = procs.current(id);
    if (!cur || (cur.state !== 'running' && cur.state !== 'dumping')) {
      throw new GodwitError('GODWIT_ERR_PROCESS_NOT_RUNNING', `process ${id} is not running on ${node}`);
    }
    return cur;
  }

  /** marks the program as being dumped while fn runs; one dump of a program at a time */
  async function asOnlyDump<T>(id: number, fn: () => Promise<T>): Promise<T> {
    if (procs.dumping.has(id)) throw new GodwitError('GODWIT_ERR_MIGRATION_IN_PROGRESS', `process ${id} is being dumped already on ${node}`);
    procs.dumping.add(id);
    try {
      return await fn();
    } finally {
      procs.dumping.delete(id);
    }
  }

  const what = (id: number, cur: AgentProc) => `process ${id} (pid ${cur.pid ?? cur.rootPid}) on ${node}`;

  /** returns the ghost limit its dump needs, and the files it carries */
  function refuseUnmovable(id: number, cur: AgentProc, lazy: boolean, carryMaxBytes: number | undefined): ReturnType<typeof carryOf> {
    const blockers = cannotMove(cur.rootPid, node);
    if (blockers.length) {
      throw new GodwitError('GODWIT_ERR_CANNOT_DUMP', `it cannot leave ${node}: ${blockers.join('; ')}`, { blockers });
    }
    const { plan: carry, carried } = carryOf(config, id, cur.rootPid, carryMaxBytes);
    const sockets = socketBlockers(carry);
    if (sockets.length) throw new GodwitError('GODWIT_ERR_CANNOT_DUMP', `it cannot leave ${node}: ${sockets.join('; ')}`, { blockers: sockets });
    if (carry.refusal) {
      throw new GodwitError('GODWIT_ERR_CARRY_LIMIT', `process ${id} cannot leave ${node}: ${carry.refusal}; it runs on`, { carriedBytes: carry.carriedBytes, limitBytes: carry.limitBytes });
    }
    if (lazy) {
      const why = cannotMoveLazily(cur.rootPid);
      if (why.length) throw new GodwitError('GODWIT_ERR_STRATEGY_UNAVAILABLE', `lazy migration cannot be used: ${why.join('; ')}; the process was not stopped`, { strategy: 'lazy' });
    }
    return { plan: carry, carried };
  }

  /** opens the files it carries, as the program holds them, refusing one the owner could not have written */
  async function holdFiles(id: number, carried: ReturnType<typeof carryOf>['carried']): Promise<HeldFiles> {
    const account = procs.meta(id)?.account;
    if (!carried.length) return { files: [] };
    if (account === undefined) throw new GodwitError('GODWIT_ERR_INTERNAL', `${node} does not know whose process ${id} is (its meta.json names no account): the files it uses cannot be carried`);
    return holdCarried(config.nodeLocal, carried, await resolveAccount(account, node));
  }

  async function dumpTree({ id, migrationId, cur, lazy, direct, pageServer, controlMounts, ghostLimit, localMounts, held }: DumpPlan): Promise<Dumped> {
    const dir = await images.fresh(migrationId, lazy);
    const lazyAt = lazy ? { host: config.listen.host, port: await ports.pick(config.listen.host) } : undefined;
    let stoppedAt = 0;
    let dumpMs = 0;
    let server: LazyDaemon | undefined;
    const lockTables = await dumpAlone(cur.rootPid, async (lockNetwork) => {
      const spawned = () => (stoppedAt = Date.now());
      if (lazyAt) {
        server = lazyDaemons.track(await criu.lazyDump({ pid: cur.rootPid, imagesDir: dir, what: what(id, cur), at: lazyAt, lockNetwork, controlMounts, localMounts, ghostLimit, spawned }));
        holdStopped(cur.rootPid);
      } else {
        await criu.dump({ pid: cur.rootPid, imagesDir: dir, what: what(id, cur), lockNetwork, controlMounts, localMounts, ghostLimit, spawned, ...(direct ? { pageServer } : {}) });
      }
      dumpMs = Date.now() - stoppedAt;
    });
    // the program is stopped (or ended) now: its files are as it left them; those sent ahead
    // and unchanged since are staged at the destination already
    if (held.files.length) {
      const packed = await packCarried(carryHelperPath(config.keeperPath), held, dir, node, sentAhead(config.dataDir, migrationId));
      recordPacked(config.dataDir, migrationId, procs.meta(id)?.account ?? '', packedPlaces(packed));
    }
    return { dir, stoppedAt, dumpMs, lockTables, lazyAt, server };
  }

  /** returns the stand-in's start, which runs while the images are sealed, not in the way of the move */
  async function releaseSource({ id, cur, direct }: DumpPlan, { dir }: Dumped): Promise<ReturnType<typeof keepHomePid>> {
    if (direct) {
      // the tree is stopped, its memory already at the destination: finish or resume it later
      procs.markStopped(id, cur.epoch, true);
      return Promise.resolve({});
    }
    procs.markDumped(id, cur.epoch);
    await awaitDumpedEnd(ctx, id, cur.epoch);
    const keeping = keepHomePid(ctx, id, cur.epoch, cur.pid);
    const unread = procs.unreadInput(id, cur.epoch);
    if (existsSync(unread)) copyFileSync(unread, join(dir, UNREAD_FILE));
    return keeping;
  }

  function describeImages({ id, migrationId, cur, direct, controlMounts }: DumpPlan, { lockTables, lazyAt, server }: Dumped): void {
    const meta = procs.meta(id);
    images.writeMeta(migrationId, {
      version: 1, processId: id, epoch: cur.epoch, rootPid: cur.rootPid, inodes: cur.inodes, lockTables, direct,
      stdinClosed: procs.stdinClosed(id, cur.epoch), argv: meta?.argv ?? [], cwd: meta?.cwd ?? '/', controlMounts,
      ...(lazyAt && server ? { lazy: { at: lazyAt, dumpPid: server.pid, ...(server.start === undefined ? {} : { dumpStart: server.start }) } } : {}),
    });
  }

  /**
   * A direct or lazy move's images go on at once, read by nothing but this agent meanwhile; a
   * freeze's (and a full-copy move's, through this disk) may wait here for days: they are kept
   * in one file sealed for their owner (frozen-images.ts), encrypted unless told otherwise.
   */
  async function vouchOrKeep({ id, migrationId, cur, direct }: DumpPlan): Promise<void> {
    if (direct) {
      images.vouch(migrationId);
      return;
    }
    const account = procs.meta(id)?.account;
    if (account === undefined) throw new GodwitError('GODWIT_ERR_INTERNAL', `${node} does not know whose process ${id} is (its meta.json names no account): its images cannot be sealed for their owner`);
    await images.keepAtRest(migrationId, { processId: id, epoch: cur.epoch, account }, config.encryptAtRest !== false);
  }

  return {
    running,

    /** Dumps the program into images of this migration; it no longer runs here afterwards. */
    async dump(id: number, migrationId: number, pageServer?: PageServer, lazy = false, carryMaxBytes?: number): Promise<DumpResult> {
      const cur = running(id);
      return asOnlyDump(id, async () => {
        const { plan: carry, carried } = refuseUnmovable(id, cur, lazy, carryMaxBytes);
        const direct = lazy || (pageServer !== undefined && canResumeAfterDump(cur.rootPid));
        const held = await holdFiles(id, carried);
        const plan: DumpPlan = {
          id, migrationId, cur, lazy, direct, pageServer, controlMounts: controlMountsOf(cur.rootPid), ghostLimit: carry.ghostLimitBytes,
          localMounts: localMountsOf(config.nodeLocal, cur.rootPid), held,
        };
        try {
          const dumped = await dumpTree(plan);
          // what the images carry, as packed (sealing them takes the directory away)
          const carriedPlaces = (readCarried(dumped.dir)?.files ?? []).map((f) => ({ path: f.path, kind: f.directory ? ('directory' as const) : f.fifo ? ('fifo' as const) : ('file' as const), bytes: f.size, mode: f.mode }));
          const keeping = await releaseSource(plan, dumped);
          describeImages(plan, dumped);
          const bytes = images.size(dumped.dir);
          await vouchOrKeep(plan);
          const { stoppedAt, dumpMs } = dumped;
          return { epoch: cur.epoch, inodes: cur.inodes, stoppedAt, dumpMs, bytes, direct, lazy, ...(await keeping), ...(carriedPlaces.length ? { carried: carriedPlaces } : {}) };
        } catch (err) {
          takePacked(config.dataDir, migrationId);
          await images.remove(migrationId);
          throw err;
        } finally {
          releaseHeld(held);
        }
      });
    },

    /**
     * Dumps the program into dir and leaves its tree stopped (a checkpoint): whoever called
     * resumes it with continueStopped, or ends it with endStopped, once the images are safe.
     */
    async dumpStopped(id: number, dir: string): Promise<{ proc: AgentProc; stoppedAt: number; lockTables: string[]; controlMounts: string[]; held: HeldFiles }> {
      const cur = running(id);
      const controlMounts = controlMountsOf(cur.rootPid);
      const localMounts = localMountsOf(config.nodeLocal, cur.rootPid);
      return asOnlyDump(id, async () => {
        // a checkpoint keeps the tree's deleted files in its images, as a move does, and its
        // node-local files, held open here for the caller to pack (packCarried) while it is stopped
        const { plan, carried } = carryOf(config, id, cur.rootPid);
        const held = await holdFiles(id, carried);
        try {
          let stoppedAt = 0;
          const lockTables = await dumpAlone(cur.rootPid, async (lockNetwork) => {
            const spawned = () => (stoppedAt = Date.now());
            await criu.dump({ pid: cur.rootPid, imagesDir: dir, what: what(id, cur), leaveStopped: true, lockNetwork, controlMounts, localMounts, ghostLimit: plan.ghostLimitBytes, spawned });
          });
          return { proc: cur, stoppedAt, lockTables, controlMounts, held };
        } catch (err) {
          releaseHeld(held);
          throw err;
        }
      });
    },
  };
}
