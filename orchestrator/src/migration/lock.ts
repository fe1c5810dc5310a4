/**
 * One migration (or checkpoint) at a time per process: the second would dump a program the first
 * has already stopped or moved.
 */
import { GodwitError } from '@godwit/schemas';
import { requireAddressStays } from '../address-pool.js';
import type { Ctx } from '../context.js';
import type { ProcessRow } from '../db/index.js';

export interface MigrationLock {
  /** runs fn as the one migration of the process, so no other starts meanwhile */
  exclusive<T>(processId: number, fn: () => Promise<T>): Promise<T>;
  /** whether something holds the process now */
  held(processId: number): boolean;
  /** resolves when nothing holds any process, or after timeoutMs */
  idle(timeoutMs: number): Promise<void>;
  /** throws, in words, unless the process runs and nothing (a migration, a checkpoint) acts on it now */
  requireRunning(proc: ProcessRow, what: string): void;
}

export function createLock(ctx: Ctx): MigrationLock {
  const active = new Map<number, Promise<unknown>>();
  const held = (processId: number) => active.has(processId);
  return {
    exclusive(processId, fn) {
      const p = fn().finally(() => active.delete(processId));
      // only that it ended matters to idle(); the caller of exclusive() gets the failure
      active.set(processId, p.catch(() => undefined));
      return p;
    },
    held,
    async idle(timeoutMs) {
      const all = Promise.allSettled([...active.values()]);
      await Promise.race([all, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    },
    requireRunning(proc, what) {
      if (proc.state === 'migrating' || held(proc.id)) {
        const now = ctx.db.q.migrationsOf.all(proc.id).at(-1);
        const paging = now?.state === 'transferring-memory' ? ` (it runs on ${now.to_node}, and its memory is still arriving there from ${now.from_node})` : '';
        throw new GodwitError('GODWIT_ERR_MIGRATION_IN_PROGRESS', `process ${proc.id} is migrating already${paging}; wait for that to end`);
      }
      if (proc.state !== 'running') {
        throw new GodwitError('GODWIT_ERR_PROCESS_NOT_RUNNING', `process ${proc.id} is not running (it is ${proc.state}); only running processes ${what}`);
      }
      requireAddressStays(proc);
    },
  };
}
