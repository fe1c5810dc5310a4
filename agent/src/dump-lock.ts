/**
 * Running a dump out of the node's CPU quota (cpu-quota.ts), one network-locking dump at a time.
 * CRIU names its lock table after a run id found only in the images, so a tree with TCP sockets,
 * whose dump locks the network, is dumped as the node's only such dump: the table that appears
 * meanwhile is this dump's. Without TCP sockets there is nothing to lock (CRIU is told so) and no
 * table: the dump runs at once, alongside the node's others.
 */
import { backUnderQuota, liftOutOfQuota, type quotaLifts } from './cpu-quota.js';
import { criuLockTables, removeLockTables } from './nft.js';
import { holdsTcpSockets } from './preflight.js';

/** A mutex whose holder gets its release function. */
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

/**
 * Returns dumpAlone: it runs a dump of the tree at rootPid and returns the network lock tables it
 * left. A dump that fails leaves no table, and the tree, running on, back under the quota.
 */
export function createDumpLock(lifts: ReturnType<typeof quotaLifts>) {
  const dumpLock = createMutex();
  return async function dumpAlone(rootPid: number, dump: (lockNetwork: boolean) => Promise<void>): Promise<string[]> {
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
  };
}

export type DumpAlone = ReturnType<typeof createDumpLock>;
