/**
 * The program a dump left stopped here: after a direct or lazy move, until the destination runs
 * it (finish: end it, hand over its unread input) or the move fails (resume: let it run on); after
 * a checkpoint, until its images are safe (continueStopped, endStopped).
 */
import { existsSync, readFileSync } from 'node:fs';
import { GodwitError, type FinishResult } from '@godwit/schemas';
import { backUnderQuota } from './cpu-quota.js';
import { signalIfAlive } from './expected-errors.js';
import { criuEnds, killCriu } from './criu-process.js';
import { lazyDumpCriu } from './image-meta.js';
import type { LazyDaemons } from './lazy-daemons.js';
import type { LifecycleContext } from './lifecycle-deps.js';
import { removeLockTables } from './nft.js';
import { treePids } from './preflight.js';
import { awaitDumpedEnd, keepHomePid } from './source-end.js';

/** how long ending a lazy source waits for CRIU to see the destination's last request */
const LAZY_END_TIMEOUT_MS = 60_000;

export function createStoppedCopies(ctx: LifecycleContext, lazy: Pick<LazyDaemons, 'endOf'>) {
  const { node, procs, images, lifts } = ctx;

  /** the images' description, when this migration left the program stopped here */
  function stoppedCopy(id: number, migrationId: number) {
    const meta = images.readMeta(migrationId);
    if (!meta || meta.processId !== id || !meta.direct) {
      throw new GodwitError('GODWIT_ERR_NOT_FOUND', `${node} holds no stopped copy of process ${id} for migration ${migrationId}`);
    }
    return procs.epochInfo(id, meta.epoch)?.state === 'stopped' ? meta : undefined;
  }

  /**
   * Lets a tree left stopped by a dump run on, under its node's quota again, and drops the
   * network lock CRIU left for it.
   */
  async function continueStopped(rootPid: number, lockTables: string[]): Promise<void> {
    backUnderQuota(lifts, rootPid);
    for (const pid of treePids(rootPid)) signalIfAlive(pid, 'SIGCONT');
    await removeLockTables(lockTables);
  }

  return {
    continueStopped,

    /** Ends a stopped tree: it exits killed, as the user asked by `exit` after its checkpoint. */
    async endStopped(rootPid: number, lockTables: string[]): Promise<void> {
      signalIfAlive(rootPid, 'SIGKILL');
      await removeLockTables(lockTables);
    },

    /** It runs at the destination now: end its stopped copy here, and hand over its unread input. */
    async finish(id: number, migrationId: number): Promise<FinishResult> {
      const meta = stoppedCopy(id, migrationId);
      if (!meta) return { unread: '', stdinClosed: false };
      const server = meta.lazy && lazyDumpCriu(meta.lazy);
      // its pages are served from the stopped tree until the destination has the last one
      if (server && !(await criuEnds(server, LAZY_END_TIMEOUT_MS, lazy.endOf(server.pid)))) killCriu(server);
      procs.markDumped(id, meta.epoch);
      const pid = procs.programPid(meta.rootPid);
      signalIfAlive(meta.rootPid, 'SIGKILL');
      await awaitDumpedEnd(ctx, id, meta.epoch);
      procs.markStopped(id, meta.epoch, false);
      await removeLockTables(meta.lockTables);
      const unread = procs.unreadInput(id, meta.epoch);
      return {
        unread: existsSync(unread) ? readFileSync(unread).toString('base64') : '',
        stdinClosed: procs.stdinClosed(id, meta.epoch),
        ...(await keepHomePid(ctx, id, meta.epoch, pid)),
      };
    },

    /** The move failed after a dump that left the program stopped here: let it run on. */
    async resume(id: number, migrationId: number): Promise<void> {
      const meta = stoppedCopy(id, migrationId);
      if (!meta) return;
      if (meta.lazy) killCriu(lazyDumpCriu(meta.lazy));
      await continueStopped(meta.rootPid, meta.lockTables);
      procs.markStopped(id, meta.epoch, false);
      await images.remove(migrationId);
    },
  };
}
