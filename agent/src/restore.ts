/**
 * Restoring a program from a migration's images: checked to be godwit's and its owner's first,
 * then run by a keeper that starts CRIU, the pages coming on demand for a lazy move.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GodwitError, type RestoreRequest, type RestoreResult } from '@godwit/schemas';
import { lastWords } from './criu-log.js';
import { CPUINFO_IMAGE, LAZY_PAGES_LOG, type LazyDaemon } from './criu.js';
import { keeperUser, resolveAccount } from './accounts.js';
import { openRefused } from './as-owner.js';
import { stageOf } from './carry-ahead.js';
import { carryHelperPath, placeCarried, removeCarried } from './carried-files.js';
import { keeperControlPath } from './control-mount.js';
import { checkImageCreds } from './image-creds.js';
import { UNREAD_FILE } from './image-meta.js';
import { startKeeper, writeClosed } from './keeper.js';
import { type CriuProcess, killCriu } from './criu-process.js';
import type { LazyDaemons } from './lazy-daemons.js';
import { settlePid } from './launch.js';
import { keeperEnv, localRestoreDirs } from './node-local.js';
import { runCgroup } from './run-cgroup.js';
import type { LifecycleContext } from './lifecycle-deps.js';

const RESTORE_TIMEOUT_MS = 10 * 60_000;

export function createRestorer({ config, node, criu, procs, images, writeStdin, control, spoolBytes, log }: LifecycleContext, lazy: Pick<LazyDaemons, 'pagerFor'>) {
  async function restoreThawed(id: number, req: RestoreRequest, t0: number): Promise<RestoreResult> {
    const meta = images.readMeta(req.migrationId);
    if (!meta || meta.processId !== id) {
      throw new GodwitError('GODWIT_ERR_NOT_FOUND', `${node} holds no images of process ${id} for migration ${req.migrationId}`);
    }
    const existing = procs.epochInfo(id, req.epoch);
    if (existing) throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `process ${id} already has epoch ${req.epoch} on ${node} (${existing.state})`);
    const imagesDir = images.dirOf(req.migrationId);
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
      try {
        pager = await lazy.pagerFor(req.migrationId, imagesDir, meta.lazy.at);
      } catch (err) {
        procs.removeEpoch(id, req.epoch);
        throw err;
      }
    }
    // watched before the program runs again here, so that no request it writes goes unseen
    await control?.follow(id, req.epoch);
    // a recovered process sees its control directory where the checkpointed one did
    for (const at of meta.controlMounts ?? []) control?.ensureMountpoint(at, id);
    const stopPager = () => {
      control?.unfollow(id);
      if (pager) killCriu(pager);
    };
    // the files it carries go in place first; a restore that fails takes them away again
    const carryHelper = carryHelperPath(config.keeperPath);
    let placed;
    try {
      placed = await placeCarried(carryHelper, config.nodeLocal, imagesDir, account, node, stageOf(config.dataDir, req.migrationId));
    } catch (err) {
      stopPager();
      procs.removeEpoch(id, req.epoch);
      throw err;
    }
    const unplace = async () => {
      for (const problem of await removeCarried(carryHelper, account, placed)) log.warn(`could not remove a file carried for process ${id}: ${problem}`);
    };
    // the keeper shows the control view as the owner's, and a recovery's keeper opens the
    // program's files with the owner's rights
    const owner = keeperUser(account);
    // A lazy restore hands the tree's memory to the daemon, and waits for it. Should the daemon
    // end first (it could not reach the source's page server, whose one connection a stranger
    // may have taken), CRIU's cleanup can wait forever on the tree it kills: its CRIU is ended,
    // so the restore fails, and the program runs on at its source.
    let restoreCriu: CriuProcess | undefined;
    let started = false;
    let pagerFailed: number | null | undefined;
    void pager?.exited.then((code) => {
      if (started || code === 0) return;
      pagerFailed = code;
      if (restoreCriu !== undefined) killCriu(restoreCriu);
    });
    let ev;
    try {
      ev = await startKeeper(
        {
          // the keeper reports its CRIU by PID and start time: never another process at that PID
          criuStarted: (c) => {
            restoreCriu = c;
            if (pagerFailed !== undefined) killCriu(c);
          },
          keeperPath: config.keeperPath, dir, epoch: req.epoch, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, cgroups: config.cgroups,
          runCgroup: runCgroup(config.cgroups, id, req.epoch),
          spoolBytes, user: owner,
          ...(control ? { control: control.dirOf(id) } : {}),
          localEnv: keeperEnv(config.nodeLocal, config.sharedPaths),
          mode: {
            restore: {
              pidfile,
              criuArgv: criu.restoreArgv({
                imagesDir, logName, pidfile, inodes: req.inodes, lazy: pager !== undefined, files: meta.inherit ?? [],
                ...(control ? { control: keeperControlPath(dir, req.epoch) } : {}),
                localDirs: localRestoreDirs(config.nodeLocal),
                // images from before dumps recorded the CPU have none to check against
                cpuChecked: existsSync(join(imagesDir, CPUINFO_IMAGE)),
              }),
              files: meta.inherit ?? [],
            },
          },
        },
        RESTORE_TIMEOUT_MS,
      );
    } catch (err) {
      stopPager();
      await unplace();
      procs.removeEpoch(id, req.epoch);
      throw new GodwitError('GODWIT_ERR_CANNOT_RESTORE', `could not restore process ${id} on ${node}: ${(err as Error).message}`);
    }
    started = ev.ev === 'started';
    if (ev.ev !== 'started') {
      stopPager();
      await unplace();
      procs.removeEpoch(id, req.epoch);
      if (pagerFailed !== undefined) {
        const why = lastWords(await readFile(join(imagesDir, LAZY_PAGES_LOG), 'utf8').catch(() => '')) ?? `it exited (${pagerFailed ?? 'killed'}) before the restore finished`;
        throw new GodwitError('GODWIT_ERR_CANNOT_RESTORE', `could not restore process ${id} on ${node}: CRIU's lazy-pages daemon, which brings its memory from ${meta.lazy!.at.host}:${meta.lazy!.at.port}, ended: ${why}`);
      }
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
  }

  return async function restore(id: number, req: RestoreRequest): Promise<RestoreResult> {
    const t0 = Date.now();
    // the very bytes restored must be godwit's and this owner's: verified as they came in this
    // run, or unpacked from their file at rest, sealed for this process, epoch and owner
    await images.thaw(req.migrationId, { processId: id, epoch: req.epoch - 1, account: req.account });
    try {
      return await restoreThawed(id, req, t0);
    } catch (err) {
      // a frozen program that does not come back stays frozen: nothing of it stays in clear
      await images.refreeze(req.migrationId);
      throw err;
    }
  };
}
