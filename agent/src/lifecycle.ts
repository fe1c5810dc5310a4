/**
 * Launching, dumping and restoring programs on this node: the steps in the order they run.
 */
import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  GodwitError,
  type AgentConfig,
  type AgentProc,
  type DumpResult,
  type FinishResult,
  type HomePid,
  type LazyStatus,
  type PageServer,
  type LaunchRequest,
  type RestoreRequest,
  type RestoreResult,
  refusedEnv,
} from '@godwit/schemas';
import { keeperUser, resolveAccount } from './accounts.js';
import { openRefused } from './as-owner.js';
import type { Control } from './control.js';
import { backUnderQuota, liftOutOfQuota, quotaLifts } from './cpu-quota.js';
import { LAZY_PAGES_LOG, type Criu, type LazyDaemon } from './criu.js';
import { freePort } from './free-port.js';
import { checkImageCreds } from './image-creds.js';
import { META_FILE, UNREAD_FILE, isLeadImage, readMetaIn, type ImageStore } from './images.js';
import { controlMountsOf, keeperControlPath } from './control-mount.js';
import { DEFAULT_SPOOL_BYTES, startKeeper, writeClosed } from './keeper.js';
import { launchFailure } from './launch-failure.js';
import type { Deputies } from './deputies.js';
import { criuLockTables, removeLockTables } from './nft.js';
import { LAZY_PAGES_PID, criuEnds, holdStopped, killCriu, lazyPagesCounter, lazyPagesPidIn, type LazyPagesStats } from './lazy.js';
import { canResumeAfterDump, cannotMove, cannotMoveLazily, holdsTcpSockets, treePids } from './preflight.js';
import type { ProcStore } from './procs.js';
import { waitFor } from './wait.js';

const START_TIMEOUT_MS = 30_000;
const RESTORE_TIMEOUT_MS = 10 * 60_000;
/** how long ending a lazy source waits for CRIU to see the destination's last request */
const LAZY_END_TIMEOUT_MS = 60_000;

export interface LifecycleDeps {
  config: Readonly<AgentConfig>;
  criu: Criu;
  procs: ProcStore;
  images: ImageStore;
  writeStdin: (dir: string, data: Buffer, eof: boolean) => Promise<void>;
  /** the programs' control directories, where configured */
  control?: Control;
  /** the stand-ins that keep home PIDs */
  deputies?: Pick<Deputies, 'keepHomePid'>;
}

/** tini's child appears a moment after tini itself (a restore, or a launch the keeper did not see) */
async function settlePid(procs: ProcStore, rootPid: number): Promise<number | null> {
  try {
    // a program that ended at once (`true`) took tini with it: nothing more will appear
    const gone = () => !existsSync(`/proc/${rootPid}`) || /^\S+ \(.*\) Z/.test(readFileSync(`/proc/${rootPid}/stat`, 'utf8'));
    return await waitFor(() => procs.programPid(rootPid) ?? (gone() ? null : undefined), { timeoutMs: 2000, intervalMs: 5, what: `the child of ${rootPid}` });
  } catch {
    return null;
  }
}

/** One network-locking dump at a time on a node, so the lock table CRIU adds can be told apart. */
function createMutex(): () => Promise<() => void> {
  let tail = Promise.resolve();
  return () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const ready = tail.then(() => release);
    tail = tail.then(() => held);
    return ready;
  };
}

export function createLifecycle({ config, criu, procs, images, writeStdin, control, deputies }: LifecycleDeps) {
  const node = config.node;
  const dumpLock = createMutex();
  const lifts = quotaLifts(config.cgroups);
  const spoolBytes = config.outputSpoolBytes ?? DEFAULT_SPOOL_BYTES;
  /** each lazy migration's page counts, read from its daemon's log as it grows */
  const pagesCounted = new Map<number, () => Promise<LazyPagesStats>>();
  /** how each lazy move's CRIU daemon that this agent started ends, by PID, while it runs */
  const daemonEnds = new Map<number, Promise<unknown>>();
  /** when each ended, by PID, until its migration is over */
  const daemonEndedAt = new Map<number, number>();
  function track(daemon: LazyDaemon): LazyDaemon {
    daemonEnds.set(daemon.pid, daemon.exited);
    void daemon.exited.then(() => {
      daemonEndedAt.set(daemon.pid, Date.now());
      daemonEnds.delete(daemon.pid);
    });
    return daemon;
  }

  // A lazy-pages daemon whose restore never happened (this agent died between the two) would wait
  // for it forever: the orchestrator has let the program run on at its source meanwhile.
  for (const migrationId of images.migrationIds()) {
    const pager = lazyPagesPid(migrationId);
    const restored = readdirSync(images.dirOf(migrationId)).some((f) => /^restore-\d+\.pid$/.test(f));
    if (pager !== undefined && !restored) killCriu(pager);
  }

  function lazyPagesPid(migrationId: number): number | undefined {
    return lazyPagesPidIn(images.dirOf(migrationId));
  }

  /** lazy-pages daemons started while their images were still arriving, by migration */
  const earlyPagers = new Map<number, Promise<LazyDaemon>>();

  /** starts `criu lazy-pages` for the images in dir; its PID is recorded there as it starts */
  function startPager(dir: string, from: PageServer): Promise<LazyDaemon> {
    return criu.lazyPages({ imagesDir: dir, from, spawned: (pid) => writeFileSync(join(dir, LAZY_PAGES_PID), String(pid)) }).then(track);
  }

  /**
   * The tree was killed after its dump (marked so beforehand, for the output's end frame): wait
   * for its keeper to record that and close the epoch's output.
   */
  async function awaitDumpedEnd(id: number, epoch: number): Promise<void> {
    await waitFor(() => (procs.epochInfo(id, epoch)?.state === 'dumped' ? true : undefined), {
      timeoutMs: 10_000,
      // the source's copy of a moved program is released only then
      intervalMs: 1,
      what: `the keeper of process ${id} to see it stop after the dump`,
    });
  }

  /** the program's first run, whose PID is its home PID, ended here after a dump: a stand-in takes the PID */
  async function keepHomePid(id: number, epoch: number, pid: number | null): Promise<{ homePid: HomePid } | Record<string, never>> {
    const account = procs.meta(id)?.account;
    if (!deputies || epoch !== 0 || pid === null || account === undefined) return {};
    return { homePid: await deputies.keepHomePid(id, pid, account) };
  }

  /** the images' description, when this migration left the program stopped here */
  function stoppedCopy(id: number, migrationId: number) {
    const meta = images.readMeta(migrationId);
    if (!meta || meta.processId !== id || !meta.direct) {
      throw new GodwitError('GODWIT_ERR_NOT_FOUND', `${node} holds no stopped copy of process ${id} for migration ${migrationId}`);
    }
    return procs.epochInfo(id, meta.epoch)?.state === 'stopped' ? meta : undefined;
  }

  function running(id: number): AgentProc {
    const cur = procs.current(id);
    if (!cur || (cur.state !== 'running' && cur.state !== 'dumping')) {
      throw new GodwitError('GODWIT_ERR_PROCESS_NOT_RUNNING', `process ${id} is not running on ${node}`);
    }
    return cur;
  }

  /**
   * Runs a dump of the tree at rootPid out of the node's CPU quota (cpu-quota.ts), and returns
   * the network lock tables it left. CRIU names its lock table after a run id found only in the
   * images, so a tree with TCP sockets, whose dump locks the network, is dumped as the node's only
   * such dump: the table that appears meanwhile is this dump's. Without TCP sockets there is
   * nothing to lock (CRIU is told so) and no table: the dump runs at once, alongside the node's
   * others (12 programs started on one of 3 nodes leave it 4 at a time). A dump that fails leaves
   * no table, and the tree, running on, back under the quota.
   */
  async function dumpAlone(rootPid: number, dump: (lockNetwork: boolean) => Promise<void>): Promise<string[]> {
    if (!holdsTcpSockets(rootPid)) {
      liftOutOfQuota(lifts, rootPid);
      try {
        await dump(false);
      } catch (err) {
        backUnderQuota(lifts, rootPid);
        throw err;
      }
      return [];
    }
    const release = await dumpLock();
    let failure: unknown;
    let lockTables: string[];
    try {
      const tablesBefore = new Set(await criuLockTables());
      liftOutOfQuota(lifts, rootPid);
      try {
        await dump(true);
      } catch (err) {
        failure = err;
        backUnderQuota(lifts, rootPid);
      }
      lockTables = (await criuLockTables()).filter((t) => !tablesBefore.has(t));
    } finally {
      release();
    }
    if (failure) {
      await removeLockTables(lockTables);
      throw failure;
    }
    return lockTables;
  }

  /**
   * Lets a tree left stopped by a dump run on, under its node's quota again, and drops the
   * network lock CRIU left for it.
   */
  async function continueStopped(rootPid: number, lockTables: string[]): Promise<void> {
    backUnderQuota(lifts, rootPid);
    for (const pid of treePids(rootPid)) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // ended meanwhile
      }
    }
    await removeLockTables(lockTables);
  }

  return {
    running,

    async launch(req: LaunchRequest): Promise<AgentProc> {
      if (procs.current(req.id)) throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `process ${req.id} already exists on ${node}`);
      const refused = refusedEnv(req.env);
      if (refused.length) throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `the environment may not set ${refused.join(', ')}`, { refused });
      const account = await resolveAccount(req.account, node);
      const controlDir = control ? await control.open(req.id, req.control) : undefined;
      const env = {
        PATH: '/usr/local/bin:/usr/bin:/bin',
        HOME: account.home,
        ...req.env,
        USER: account.name,
        LOGNAME: account.name,
        GODWIT_PROC_ID: String(req.id),
        ...(controlDir ? { GODWIT_CONTROL: controlDir } : {}),
      };
      const dir = procs.prepare({ id: req.id, argv: req.argv, cwd: req.cwd, account: req.account });
      let ev;
      try {
        ev = await startKeeper(
          {
            keeperPath: config.keeperPath, dir, epoch: 0, user: keeperUser(account), env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
            ...(controlDir ? { control: controlDir } : {}), cgroups: config.cgroups, spoolBytes,
            mode: { launch: { cwd: req.cwd, argv: req.argv, env, init: config.tiniPath } },
          },
          START_TIMEOUT_MS,
        );
      } catch (err) {
        procs.removeEpoch(req.id, 0);
        control?.unfollow(req.id);
        throw new GodwitError('GODWIT_ERR_LAUNCH_FAILED', `could not start process ${req.id} on ${node}: ${(err as Error).message}`);
      }
      if (ev.ev !== 'started') {
        procs.removeEpoch(req.id, 0);
        control?.unfollow(req.id);
        if (ev.ev === 'launch-failed') throw launchFailure(ev, { argv0: req.argv[0]!, cwd: req.cwd, account: account.name, node });
        throw new GodwitError('GODWIT_ERR_LAUNCH_FAILED', `could not start process ${req.id} on ${node}`);
      }
      // the keeper saw the program's PID before it ran, even one that ends at once (`true`),
      // unless its owner could not run the keeper's file (then tini ran the program itself)
      const pid = ev.program || (await settlePid(procs, ev.pid));
      return { id: req.id, epoch: 0, state: 'running', rootPid: ev.pid, pid, inodes: { in: ev.in, out: ev.out, err: ev.err } };
    },

    /** Dumps the program into images of this migration; it no longer runs here afterwards. */
    async dump(id: number, migrationId: number, pageServer?: PageServer, lazy = false): Promise<DumpResult> {
      const cur = running(id);
      if (procs.dumping.has(id)) throw new GodwitError('GODWIT_ERR_MIGRATION_IN_PROGRESS', `process ${id} is being dumped already on ${node}`);
      const blockers = cannotMove(cur.rootPid, node);
      if (blockers.length) {
        throw new GodwitError('GODWIT_ERR_CANNOT_DUMP', `it cannot leave ${node}: ${blockers.join('; ')}`, { blockers });
      }
      if (lazy) {
        const why = cannotMoveLazily(cur.rootPid);
        if (why.length) throw new GodwitError('GODWIT_ERR_STRATEGY_UNAVAILABLE', `lazy migration cannot be used: ${why.join('; ')}; the process was not stopped`, { strategy: 'lazy' });
      }
      const meta = procs.meta(id);
      const direct = lazy || (pageServer !== undefined && canResumeAfterDump(cur.rootPid));
      const controlMounts = controlMountsOf(cur.rootPid);
      procs.dumping.add(id);
      try {
        const dir = await images.fresh(migrationId, lazy);
        const what = `process ${id} (pid ${cur.pid ?? cur.rootPid}) on ${node}`;
        const lazyAt = lazy ? { host: config.listen.host, port: await freePort(config.listen.host) } : undefined;
        let frozenAt = 0;
        let dumpMs = 0;
        let server: LazyDaemon | undefined;
        const lockTables = await dumpAlone(cur.rootPid, async (lockNetwork) => {
          const spawned = () => (frozenAt = Date.now());
          if (lazyAt) {
            server = track(await criu.lazyDump({ pid: cur.rootPid, imagesDir: dir, what, at: lazyAt, lockNetwork, controlMounts, spawned }));
            holdStopped(cur.rootPid);
          } else {
            await criu.dump({ pid: cur.rootPid, imagesDir: dir, what, lockNetwork, controlMounts, spawned, ...(direct ? { pageServer } : {}) });
          }
          dumpMs = Date.now() - frozenAt;
        });
        // the stand-in starts while the images are sealed, not in the way of the move
        let keeping: ReturnType<typeof keepHomePid> = Promise.resolve({});
        if (direct) {
          // the tree is stopped, its memory already at the destination: finish or resume it later
          procs.markStopped(id, cur.epoch, true);
        } else {
          procs.markDumped(id, cur.epoch);
          await awaitDumpedEnd(id, cur.epoch);
          keeping = keepHomePid(id, cur.epoch, cur.pid);
          const unread = procs.unreadInput(id, cur.epoch);
          if (existsSync(unread)) copyFileSync(unread, join(dir, UNREAD_FILE));
        }
        images.writeMeta(migrationId, {
          version: 1, processId: id, epoch: cur.epoch, rootPid: cur.rootPid, inodes: cur.inodes, lockTables, direct,
          stdinClosed: procs.stdinClosed(id, cur.epoch), argv: meta?.argv ?? [], cwd: meta?.cwd ?? '/', controlMounts,
          ...(lazyAt && server ? { lazy: { at: lazyAt, dumpPid: server.pid } } : {}),
        });
        // a move's images go on at once, read by nothing but this agent meanwhile; a freeze's (and
        // a move's through this disk) may wait here for days, and are checked against their seal
        if (direct) images.vouch(migrationId);
        else await images.seal(migrationId);
        return { epoch: cur.epoch, inodes: cur.inodes, frozenAt, dumpMs, bytes: images.size(dir), direct, lazy, ...(await keeping) };
      } catch (err) {
        await images.remove(migrationId);
        throw err;
      } finally {
        procs.dumping.delete(id);
      }
    },

    async restore(id: number, req: RestoreRequest): Promise<RestoreResult> {
      const meta = images.readMeta(req.migrationId);
      if (!meta || meta.processId !== id) {
        throw new GodwitError('GODWIT_ERR_NOT_FOUND', `${node} holds no images of process ${id} for migration ${req.migrationId}`);
      }
      const existing = procs.epochInfo(id, req.epoch);
      if (existing) throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `process ${id} already has epoch ${req.epoch} on ${node} (${existing.state})`);
      const t0 = Date.now();
      const imagesDir = images.dirOf(req.migrationId);
      // the very bytes restored must be godwit's: verified as they came, or against their seal
      await images.checkSeal(req.migrationId);
      // CRIU, as root, gives the program whatever credentials its images say: they must be the
      // owner's (a move's destination looked the account up before the program stopped)
      const account = await resolveAccount(req.account, node);
      checkImageCreds(imagesDir, account);
      const dir = procs.prepare({ id, argv: meta.argv, cwd: meta.cwd, account: req.account });
      // read by the keeper as it starts: the fresh pipe has no reader before the program runs
      if (req.closedOutput?.length) writeClosed(dir, req.epoch, req.closedOutput);
      const logName = `restore-${req.epoch}.log`;
      const pidfile = join(imagesDir, `restore-${req.epoch}.pid`);
      // the pages come on demand, through a daemon the restored tree hands its memory to
      let pager: LazyDaemon | undefined;
      if (meta.lazy) {
        const early = earlyPagers.get(req.migrationId);
        earlyPagers.delete(req.migrationId);
        try {
          // one started early that failed (it saw too few images?) is started again, whole
          pager = (await early?.catch(() => undefined)) ?? (await startPager(imagesDir, meta.lazy.at));
        } catch (err) {
          procs.removeEpoch(id, req.epoch);
          throw err;
        }
      }
      // watched before the program runs again here, so that no request it writes goes unseen
      await control?.follow(id, req.epoch);
      // a recovered process sees its control directory where the checkpointed one did
      for (const at of meta.controlMounts ?? []) control?.ensureMountpoint(at);
      const stopPager = () => {
        control?.unfollow(id);
        if (pager) killCriu(pager.pid);
      };
      // the keeper shows the control view as the owner's, and a recovery's keeper opens the
      // program's files with the owner's rights
      const owner = keeperUser(account);
      let ev;
      try {
        ev = await startKeeper(
          {
            keeperPath: config.keeperPath, dir, epoch: req.epoch, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, cgroups: config.cgroups,
            spoolBytes, user: owner,
            ...(control ? { control: control.dirOf(id) } : {}),
            mode: {
              restore: {
                pidfile,
                criuArgv: criu.restoreArgv({
                  imagesDir, logName, pidfile, inodes: req.inodes, lazy: pager !== undefined, files: meta.inherit ?? [],
                  ...(control ? { control: keeperControlPath(dir, req.epoch) } : {}),
                }),
                files: meta.inherit ?? [],
              },
            },
          },
          RESTORE_TIMEOUT_MS,
        );
      } catch (err) {
        stopPager();
        procs.removeEpoch(id, req.epoch);
        throw new GodwitError('GODWIT_ERR_CANNOT_RESTORE', `could not restore process ${id} on ${node}: ${(err as Error).message}`);
      }
      if (ev.ev !== 'started') {
        stopPager();
        procs.removeEpoch(id, req.epoch);
        const refused = ev.ev === 'restore-failed' ? openRefused(ev, meta.inherit ?? [], req.account, node) : undefined;
        throw refused ?? await criu.restoreError({ imagesDir, logName, what: `process ${id} on ${node}`, exitCode: ev.ev === 'restore-failed' ? ev.code : -1 });
      }
      const restoredAt = Date.now();
      // after a direct dump the source still holds the input: it comes with finish() instead
      const unread = join(imagesDir, UNREAD_FILE);
      if (!meta.direct && (existsSync(unread) || meta.stdinClosed)) {
        await writeStdin(dir, existsSync(unread) ? readFileSync(unread) : Buffer.alloc(0), meta.stdinClosed);
      }
      return {
        rootPid: ev.pid,
        pid: await settlePid(procs, ev.pid),
        inodes: { in: ev.in, out: ev.out, err: ev.err },
        restoredAt,
        restoreMs: restoredAt - t0,
      };
    },

    /**
     * Takes in a migration's images. A lazy move's `criu lazy-pages` starts as soon as what it
     * reads as it starts is in (the lead images, see isLeadImage: godwit.json says where the
     * pages are), while the rest arrives: the restore finds it ready instead of starting it
     * (10-16 ms) while the program waits.
     */
    async receive(migrationId: number, body: Readable): Promise<number> {
      let from: PageServer | undefined;
      const written = (name: string, dir: string) => {
        if (name === META_FILE) from = readMetaIn(dir).lazy?.at;
        else if (from && !isLeadImage(name) && !earlyPagers.has(migrationId)) {
          const starting = startPager(dir, from);
          starting.catch(() => undefined); // the restore starts it again
          earlyPagers.set(migrationId, starting);
        }
      };
      try {
        return await images.receive(migrationId, body, written);
      } catch (err) {
        const starting = earlyPagers.get(migrationId);
        earlyPagers.delete(migrationId);
        void starting?.then((daemon) => killCriu(daemon.pid), () => undefined);
        throw err;
      }
    },

    /** It runs at the destination now: end its stopped copy here, and hand over its unread input. */
    async finish(id: number, migrationId: number): Promise<FinishResult> {
      const meta = stoppedCopy(id, migrationId);
      if (!meta) return { unread: '', stdinClosed: false };
      const server = meta.lazy?.dumpPid;
      // its pages are served from the stopped tree until the destination has the last one
      if (server !== undefined && !(await criuEnds(server, LAZY_END_TIMEOUT_MS, daemonEnds.get(server)))) killCriu(server);
      procs.markDumped(id, meta.epoch);
      const pid = procs.programPid(meta.rootPid);
      try {
        process.kill(meta.rootPid, 'SIGKILL');
      } catch {
        // gone already
      }
      await awaitDumpedEnd(id, meta.epoch);
      procs.markStopped(id, meta.epoch, false);
      await removeLockTables(meta.lockTables);
      const unread = procs.unreadInput(id, meta.epoch);
      return {
        unread: existsSync(unread) ? readFileSync(unread).toString('base64') : '',
        stdinClosed: procs.stdinClosed(id, meta.epoch),
        ...(await keepHomePid(id, meta.epoch, pid)),
      };
    },

    /** The move failed after a dump that left the program stopped here: let it run on. */
    async resume(id: number, migrationId: number): Promise<void> {
      const meta = stoppedCopy(id, migrationId);
      if (!meta) return;
      if (meta.lazy) killCriu(meta.lazy.dumpPid);
      await continueStopped(meta.rootPid, meta.lockTables);
      procs.markStopped(id, meta.epoch, false);
      await images.remove(migrationId);
    },

    /**
     * Dumps the program into dir and leaves its tree stopped (a checkpoint): whoever called
     * resumes it with continueStopped, or ends it with endStopped, once the images are safe.
     */
    async dumpStopped(id: number, dir: string): Promise<{ proc: AgentProc; frozenAt: number; lockTables: string[]; controlMounts: string[] }> {
      const cur = running(id);
      const controlMounts = controlMountsOf(cur.rootPid);
      if (procs.dumping.has(id)) throw new GodwitError('GODWIT_ERR_MIGRATION_IN_PROGRESS', `process ${id} is being dumped already on ${node}`);
      procs.dumping.add(id);
      try {
        let frozenAt = 0;
        const lockTables = await dumpAlone(cur.rootPid, async (lockNetwork) => {
          const spawned = () => (frozenAt = Date.now());
          await criu.dump({ pid: cur.rootPid, imagesDir: dir, what: `process ${id} (pid ${cur.pid ?? cur.rootPid}) on ${node}`, leaveStopped: true, lockNetwork, controlMounts, spawned });
        });
        return { proc: cur, frozenAt, lockTables, controlMounts };
      } finally {
        procs.dumping.delete(id);
      }
    },

    continueStopped,

    /** Ends a stopped tree: it exits killed, as the user asked by `exit` after its checkpoint. */
    async endStopped(rootPid: number, lockTables: string[]): Promise<void> {
      try {
        process.kill(rootPid, 'SIGKILL');
      } catch {
        // gone already
      }
      await removeLockTables(lockTables);
    },

    /**
     * The destination's view of a lazy migration's background transfer; waitMs: how long to wait
     * for the daemon to end before answering that it still runs.
     */
    async lazyStatus(migrationId: number, waitMs = 0): Promise<LazyStatus> {
      const pid = lazyPagesPid(migrationId);
      if (pid === undefined) throw new GodwitError('GODWIT_ERR_NOT_FOUND', `${node} receives no pages for migration ${migrationId}`);
      const running = !(await criuEnds(pid, waitMs, daemonEnds.get(pid)));
      let count = pagesCounted.get(migrationId);
      if (!count) pagesCounted.set(migrationId, (count = lazyPagesCounter(join(images.dirOf(migrationId), LAZY_PAGES_LOG))));
      const stats = await count();
      const reason = stats.errors.length ? `CRIU's lazy-pages daemon failed: ${stats.errors.join('; ')}` : null;
      // one a previous run of this agent started is seen to end only now
      const endedAt = running ? null : (daemonEndedAt.get(pid) ?? Date.now());
      return { running, ok: reason === null, onDemandBytes: stats.onDemandBytes, backgroundBytes: stats.backgroundBytes, reason, endedAt };
    },

    /** The migration is over: forget its images and the network lock CRIU left for the dumped tree. */
    async discardImages(migrationId: number): Promise<void> {
      const meta = images.readMeta(migrationId);
      if (meta) await removeLockTables(meta.lockTables);
      const pager = lazyPagesPid(migrationId);
      if (pager !== undefined) {
        killCriu(pager);
        daemonEndedAt.delete(pager);
      }
      earlyPagers.delete(migrationId);
      pagesCounted.delete(migrationId);
      if (meta?.lazy) {
        killCriu(meta.lazy.dumpPid);
        daemonEndedAt.delete(meta.lazy.dumpPid);
      }
      await images.remove(migrationId);
    },
  };
}

export type Lifecycle = ReturnType<typeof createLifecycle>;
