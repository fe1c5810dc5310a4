/**
 * The CRIU daemons of lazy moves that this agent starts and watches: the source's dump serving
 * pages, the destination's `criu lazy-pages` (started early, while the images still arrive, where
 * it can be), their ends and their page counts.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { GodwitError, type LazyStatus, type PageServer } from '@godwit/schemas';
import { LAZY_PAGES_LOG, type LazyDaemon } from './criu.js';
import { type CriuProcess, criuEnds, criuProcess, criuRecord, killCriu } from './criu-process.js';
import { META_FILE, isLeadImage, lazyDumpCriu, readMetaIn, type ImageMeta } from './image-meta.js';
import { LAZY_PAGES_PID, lazyPagesCounter, lazyPagesIn, type LazyPagesStats } from './lazy.js';
import type { LifecycleContext } from './lifecycle-deps.js';

export function createLazyDaemons({ node, criu, images, log }: LifecycleContext) {
  /** each lazy migration's page counts, read from its daemon's log as it grows */
  const pagesCounted = new Map<number, () => Promise<LazyPagesStats>>();
  /** how each lazy move's CRIU daemon that this agent started ends, by PID, while it runs */
  const daemonEnds = new Map<number, Promise<unknown>>();
  /** when each ended, by PID, until its migration is over */
  const daemonEndedAt = new Map<number, number>();
  /** lazy-pages daemons started while their images were still arriving, by migration; undefined: it failed */
  const earlyPagers = new Map<number, Promise<LazyDaemon | undefined>>();

  function track(daemon: LazyDaemon): LazyDaemon {
    log.info({ pid: daemon.pid, argv: daemon.argv }, 'CRIU lazy daemon started');
    daemonEnds.set(daemon.pid, daemon.exited);
    void daemon.exited.then(() => {
      daemonEndedAt.set(daemon.pid, Date.now());
      daemonEnds.delete(daemon.pid);
    });
    return daemon;
  }

  function lazyPagesOf(migrationId: number): CriuProcess | undefined {
    return lazyPagesIn(images.dirOf(migrationId));
  }

  // A lazy-pages daemon whose restore never happened (this agent died between the two) would wait
  // for it forever: the orchestrator has let the program run on at its source meanwhile.
  for (const migrationId of images.migrationIds()) {
    const pager = lazyPagesOf(migrationId);
    const restored = readdirSync(images.dirOf(migrationId)).some((f) => /^restore-\d+\.pid$/.test(f));
    if (pager !== undefined && !restored) killCriu(pager);
  }

  /** starts `criu lazy-pages` for the images in dir; its PID and start time are recorded there as it starts */
  function startPager(dir: string, from: PageServer): Promise<LazyDaemon> {
    return criu.lazyPages({ imagesDir: dir, from, spawned: (pid) => writeFileSync(join(dir, LAZY_PAGES_PID), criuRecord(criuProcess(pid))) }).then(track);
  }

  return {
    track,

    /** the end of a daemon this agent started, while it runs */
    endOf: (pid: number): Promise<unknown> | undefined => daemonEnds.get(pid),

    /** the daemon that fills a lazy move's restored tree: the one started early, or a new one */
    async pagerFor(migrationId: number, imagesDir: string, from: PageServer): Promise<LazyDaemon> {
      const early = earlyPagers.get(migrationId);
      earlyPagers.delete(migrationId);
      return (await early) ?? (await startPager(imagesDir, from));
    },

    /**
     * Takes in a migration's images. A lazy move's `criu lazy-pages` starts as soon as what it
     * reads as it starts is in (the lead images, see isLeadImage: godwit.json says where the
     * pages are), while the rest arrives: the restore finds it ready instead of starting it
     * while the program waits.
     */
    async receive(migrationId: number, body: Readable): Promise<number> {
      let from: PageServer | undefined;
      const written = (name: string, dir: string) => {
        if (name === META_FILE) from = readMetaIn(dir).lazy?.at;
        else if (from && !isLeadImage(name) && !earlyPagers.has(migrationId)) {
          const starting = startPager(dir, from).catch((err: unknown) => {
            // it saw too few images? the restore starts it again, whole
            log.warn({ err, migrationId }, 'the lazy-pages daemon started while the images arrived failed');
            return undefined;
          });
          earlyPagers.set(migrationId, starting);
        }
      };
      try {
        return await images.receive(migrationId, body, written);
      } catch (err) {
        const starting = earlyPagers.get(migrationId);
        earlyPagers.delete(migrationId);
        void starting?.then((daemon) => daemon && killCriu(daemon));
        throw err;
      }
    },

    /**
     * The destination's view of a lazy migration's background transfer; waitMs: how long to wait
     * for the daemon to end before answering that it still runs.
     */
    async lazyStatus(migrationId: number, waitMs = 0): Promise<LazyStatus> {
      const pager = lazyPagesOf(migrationId);
      if (pager === undefined) throw new GodwitError('GODWIT_ERR_NOT_FOUND', `${node} receives no pages for migration ${migrationId}`);
      const running = !(await criuEnds(pager, waitMs, daemonEnds.get(pager.pid)));
      let count = pagesCounted.get(migrationId);
      if (!count) pagesCounted.set(migrationId, (count = lazyPagesCounter(join(images.dirOf(migrationId), LAZY_PAGES_LOG))));
      const stats = await count();
      const reason = stats.errors.length ? `CRIU's lazy-pages daemon failed: ${stats.errors.join('; ')}` : null;
      // one a previous run of this agent started is seen to end only now
      const endedAt = running ? null : (daemonEndedAt.get(pager.pid) ?? Date.now());
      return { running, ok: reason === null, onDemandBytes: stats.onDemandBytes, backgroundBytes: stats.backgroundBytes, reason, endedAt };
    },

    /** The migration is over: end its daemons (meta: its images' description, if any) and forget them. */
    forget(migrationId: number, meta: ImageMeta | undefined): void {
      const pager = lazyPagesOf(migrationId);
      if (pager !== undefined) {
        killCriu(pager);
        daemonEndedAt.delete(pager.pid);
      }
      earlyPagers.delete(migrationId);
      pagesCounted.delete(migrationId);
      if (meta?.lazy) {
        killCriu(lazyDumpCriu(meta.lazy));
        daemonEndedAt.delete(meta.lazy.dumpPid);
      }
    },
  };
}

export type LazyDaemons = ReturnType<typeof createLazyDaemons>;
