/**
 * A program's life on this node, put together from its parts: launch.ts, dump.ts (and
 * dump-lock.ts), restore.ts, stopped-copy.ts and lazy-daemons.ts. This is what the routes and
 * checkpoints call.
 */
import type { LaunchRequest } from '@godwit/schemas';
import { resolveAccount } from './accounts.js';
import { discardAhead } from './carry-ahead.js';
import { carryHelperPath, removeCarried, takePacked } from './carried-files.js';
import { quotaLifts } from './cpu-quota.js';
import { createDumper } from './dump.js';
import { createDumpLock } from './dump-lock.js';
import { DEFAULT_SPOOL_BYTES } from './keeper.js';
import { launch } from './launch.js';
import { createLazyDaemons } from './lazy-daemons.js';
import type { LifecycleContext, LifecycleDeps } from './lifecycle-deps.js';
import { removeLockTables } from './nft.js';
import { createRestorer } from './restore.js';
import { createStoppedCopies } from './stopped-copy.js';

export function createLifecycle(deps: LifecycleDeps) {
  const { config, images } = deps;
  const lifts = quotaLifts(config.cgroups);
  const ctx: LifecycleContext = { ...deps, node: config.node, lifts, spoolBytes: config.outputSpoolBytes ?? DEFAULT_SPOOL_BYTES };
  const lazy = createLazyDaemons(ctx);
  const dumper = createDumper(ctx, createDumpLock(lifts), lazy);
  const stopped = createStoppedCopies(ctx, lazy);

  return {
    running: dumper.running,
    launch: (req: LaunchRequest) => launch(ctx, req),
    dump: dumper.dump,
    restore: createRestorer(ctx, lazy),
    receive: lazy.receive,
    finish: stopped.finish,
    resume: stopped.resume,
    dumpStopped: dumper.dumpStopped,
    continueStopped: stopped.continueStopped,
    endStopped: stopped.endStopped,
    lazyStatus: lazy.lazyStatus,

    /**
     * The migration is over: forget its images and the network lock CRIU left for the dumped
     * tree. `moved`: it succeeded, so the node-local files this (source) node packed for it go too.
     */
    async discardImages(migrationId: number, moved = false): Promise<void> {
      discardAhead(config.dataDir, migrationId);
      const packed = takePacked(config.dataDir, migrationId);
      if (moved && packed?.files.length) {
        const owner = await resolveAccount(packed.account, config.node);
        for (const problem of await removeCarried(carryHelperPath(config.keeperPath), owner, packed.files)) {
          deps.log.warn(`could not remove a file carried away by migration ${migrationId}: ${problem}`);
        }
      }
      const meta = images.readMeta(migrationId);
      await removeLockTables(meta?.lockTables ?? images.frozenFor(migrationId)?.lockTables ?? []);
      lazy.forget(migrationId, meta);
      await images.remove(migrationId);
    },
  };
}

export type Lifecycle = ReturnType<typeof createLifecycle>;
