/** What the rest of the orchestrator asks of migrations: the interface alone, so that importing it pulls none of the steps in. */
import type { FreezeReason, Migration, Strategy } from '@godwit/schemas';
import type { ProcessRow } from '../db/index.js';
import type { Ends } from '../strategy.js';

export interface Migrator {
  /** checks, records and runs a migration; resolves when it is done, throws why it failed */
  /**
   * carryMaxBytes: the most bytes of node-local files this move may carry (the node's own limit
   * when left out); compress: LZ4 for its images between the nodes (the cluster's compress.moves
   * when left out)
   */
  migrate(proc: ProcessRow, to: string, strategy?: Strategy, opts?: { carryMaxBytes?: number | undefined; compress?: boolean | undefined }): Promise<Migration>;
  /** where a move to `to` (a node, or 'home') would go, or throws why none would start, as migrate does before anything stops */
  destination(proc: ProcessRow, to: string): string;
  /** the two nodes of a move, with what their kernels can do: for chooseStrategy */
  endsOf(from: string, to: string): Ends;
  /** waits (up to timeoutMs) while a process is migrating */
  settled(id: number, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** resolves when no migration runs, or after timeoutMs */
  idle(timeoutMs: number): Promise<void>;
  /** throws, in words, unless the process runs and nothing (a migration, a checkpoint) acts on it now */
  requireRunning(proc: ProcessRow, what: string): void;
  /** runs fn as the one migration of the process, so no other starts meanwhile */
  exclusive<T>(processId: number, fn: () => Promise<T>): Promise<T>;
  /** dumps the process to its node's disk and ends it there: a migration that waits at 'frozen' */
  freeze(proc: ProcessRow, why: FreezeReason): Promise<Migration>;
  /** brings a frozen process back on `to` (a node, or 'home', the default), then delivers the signals that waited for it */
  thaw(proc: ProcessRow, to?: string): Promise<Migration>;
  /** ends a frozen process, as SIGKILL does: its image and the signals that waited for it are dropped */
  endFrozen(proc: ProcessRow, signal: string): void;
}
