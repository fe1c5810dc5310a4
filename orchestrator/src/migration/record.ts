/**
 * A migration's record: every state is written, with what it learnt, before the step it names is
 * acted upon, so that a restarted orchestrator (resume.ts) knows how far it got.
 */
import type { MigrationState, RestoreRequest } from '@godwit/schemas';
import { restoreStreams } from '../closed-output.js';
import { accountOf } from '../config.js';
import type { Ctx } from '../context.js';
import type { DumpRecord, MigrationRow, ProcessRow } from '../db/index.js';
import { checkTransition } from './states.js';

export interface MigrationRecord {
  /** records the request of a migration and marks its process migrating */
  record(proc: ProcessRow, to: string, how: { strategy: string; reason: string }, message: string): MigrationRow;
  /** persists the next state (and anything else in the same transaction) before it is acted upon */
  transition(m: MigrationRow, state: MigrationState, also?: () => void): MigrationRow;
  /** records how the migration ended: where the program was restored, and how long it stood */
  ended(m: MigrationRow, restoredOn: string | null, stoppedMs: number | null): void;
  /** tells watchers how far the migration got; `followed` counts a lazy program's pages since it resumed */
  progress(m: MigrationRow, followed?: number): void;
  /** what should move in all, from the source's look at the program */
  expect(id: number, bytes: number): void;
  /** the Unix account the migrating program runs as */
  ownerAccount(m: MigrationRow): string;
  /** what the agent restoring the program of `m` from `dump` needs */
  restoreRequest(m: MigrationRow, dump: DumpRecord): RestoreRequest;
}

export function createRecord(ctx: Ctx): MigrationRecord {
  const { db, bus, log } = ctx;
  const expected = new Map<number, number>();

  function ownerAccount(m: MigrationRow): string {
    return accountOf(ctx.config, db.q.processById.get(m.process_id)!.owner);
  }

  function progress(m: MigrationRow, followed = (m.on_demand_bytes ?? 0) + (m.background_bytes ?? 0)): void {
    const totalBytes = expected.get(m.id) ?? null;
    bus.emit('progress', { migrationId: m.id, processId: m.process_id, strategy: m.strategy, state: m.state, bytes: (m.bytes ?? 0) + followed, totalBytes, at: Date.now() });
    if (m.state === 'done' || m.state === 'failed' || m.state === 'frozen') expected.delete(m.id);
  }

  return {
    record(proc, to, how, message) {
      const now = Date.now();
      let id = 0;
      db.tx(() => {
        id = Number(
          db.q.insertMigration.run({
            process_id: proc.id,
            from_node: proc.node,
            to_node: to,
            strategy: how.strategy,
            strategy_reason: how.reason,
            steps: JSON.stringify([{ state: 'requested', at: now }]),
            from_epoch: proc.epoch,
            started_at: now,
          }).lastInsertRowid,
        );
        db.q.setProcessState.run({ id: proc.id, state: 'migrating' });
        db.event({ processId: proc.id, node: proc.node, kind: 'migration-started', message: `${message} (migration ${id})` });
      });
      bus.emit('process', proc.id);
      return db.q.migrationById.get(id)!;
    },

    transition(m, state, also) {
      checkTransition(m.id, m.state, state);
      const steps = JSON.parse(m.steps) as { state: MigrationState; at: number }[];
      steps.push({ state, at: Date.now() });
      db.tx(() => {
        db.q.setMigrationState.run({ id: m.id, state, steps: JSON.stringify(steps) });
        also?.();
      });
      log.info({ migration: m.id, process: m.process_id, state }, `migration ${m.id} of process ${m.process_id}: ${state}`);
      const now = db.q.migrationById.get(m.id)!;
      progress(now);
      return now;
    },

    ended(m, restoredOn, stoppedMs) {
      db.q.endMigration.run({ id: m.id, restored_on: restoredOn, stopped_ms: stoppedMs, total_ms: Date.now() - m.started_at, ended_at: Date.now() });
    },

    progress,

    expect(id, bytes) {
      expected.set(id, bytes);
    },

    ownerAccount,

    restoreRequest(m, dump) {
      return {
        migrationId: m.id,
        account: ownerAccount(m),
        epoch: m.from_epoch + 1,
        inodes: dump.inodes,
        ...restoreStreams(db.q.processById.get(m.process_id)!),
      };
    },
  };
}
