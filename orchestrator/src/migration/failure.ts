/**
 * How a migration ends: done, failed with the program running on at the source (after a rollback
 * where it had stopped), or lost. Each end is one transaction with the process's new state, and
 * leaves no images behind.
 */
import { type AgentProc, GodwitError, type Migration, type RestoreResult, toGodwitError } from '@godwit/schemas';
import type { Ctx } from '../context.js';
import { type DumpRecord, type MigrationRow, toMigration } from '../db/index.js';
import { freezeTimes } from '../freeze-times.js';
import { recordHomePid } from '../home-pid.js';
import { processLost } from '../process-life.js';
import type { MigrationLock } from './lock.js';
import type { MigrationRecord } from './record.js';
import { retryUnreachable } from './retry.js';

/** how long a restarting source agent is waited for, to end a copy left stopped there */
const SOURCE_RETRY_MS = 60_000;

/** where the program was restored, and when (null when only the agent's list says it runs) */
export interface Restored {
  pid: number | null;
  restoredAt: number | null;
}

export interface MigrationEnds {
  /** a failure before the process stopped: it runs on where it was */
  failBeforeDump(m: MigrationRow, cause: GodwitError, head?: string): never;
  /** the process stopped and cannot move: it runs on at the source (restored there if its dump ended it) */
  rollback(m: MigrationRow, cause: GodwitError, dump: DumpRecord): Promise<never>;
  /** the program runs at the destination */
  finishDone(m: MigrationRow, restored: Restored, dump: DumpRecord | null): Migration;
  /** ends the stopped copy a direct or lazy dump left at the source, once the program runs elsewhere */
  finishSource(m: MigrationRow): Promise<void>;
  /** the process was found running at `from` (never dumped, or rolled back) */
  finishStayed(m: MigrationRow, found: AgentProc, reason: string): Migration;
  /** the process is nowhere to be found */
  finishLost(m: MigrationRow, reason: string): Migration;
  /** deletes the migration's images on both its nodes, logging what could not be; moved: it succeeded */
  cleanupImages(m: MigrationRow, moved?: boolean): void;
}

/**
 * `resume` finishes a migration left half done (resume.ts): used when the source's agent is
 * unreachable just when the program must be restored there, so it waits for the agent instead of
 * giving the program up.
 */
export function createEnds(ctx: Ctx, rec: MigrationRecord, lock: MigrationLock, resume: (m: MigrationRow) => Promise<void>): MigrationEnds {
  const { db, bus, log } = ctx;
  const { transition, ended } = rec;

  function cleanupImages(m: MigrationRow, moved = false): void {
    for (const node of new Set([m.from_node, m.to_node])) {
      // the source of a move that succeeded removes the node-local files it carried away
      ctx.agent(node).deleteImages(m.id, moved && node === m.from_node && m.from_node !== m.to_node).catch((err: unknown) => {
        log.warn({ err, migration: m.id, node }, `could not delete the images of migration ${m.id} on ${node}`);
      });
    }
  }

  /** records a failed migration after which the program runs at the source, and throws why */
  function failAtSource(m: MigrationRow, cause: GodwitError, message: string, record: () => void): never {
    transition(m, 'failed', () => {
      record();
      db.event({ processId: m.process_id, node: m.from_node, kind: 'migration-failed', message });
    });
    bus.emit('process', m.process_id);
    cleanupImages(m);
    throw new GodwitError(cause.code, message, { ...cause.details, migrationId: m.id });
  }

  function failBeforeDump(m: MigrationRow, cause: GodwitError, head = `process ${m.process_id} cannot move to ${m.to_node}`): never {
    const message = `${head}: ${cause.message}; it keeps running on ${m.from_node}`;
    failAtSource(m, cause, message, () => {
      db.q.setMigrationFailure.run({ id: m.id, code: cause.code, reason: cause.message });
      ended(m, null, null);
      db.q.endMigrating.run(m.process_id);
    });
  }

  function finishDone(m: MigrationRow, restored: Restored, dump: DumpRecord | null): Migration {
    // a continue: the time it stayed frozen is not the move's stop
    const { stoppedMs, frozenForMs } = freezeTimes(
      JSON.parse(m.steps) as Migration['steps'],
      restored.restoredAt !== null && dump?.stoppedAt != null ? restored.restoredAt - dump.stoppedAt : m.stopped_ms,
    );
    const done = transition(m, 'done', () => {
      ended(m, m.to_node, stoppedMs);
      db.q.setMigrated.run({
        id: m.process_id,
        node: m.to_node,
        pid: restored.pid,
        epoch: m.from_epoch + 1,
        last_stopped_ms: stoppedMs,
        last_frozen_for_ms: frozenForMs,
      });
      const stats = [
        stoppedMs !== null ? `stopped ${stoppedMs} ms` : null,
        frozenForMs !== null ? `after ${frozenForMs} ms frozen` : null,
        m.bytes !== null ? `${m.bytes} bytes` : null,
      ]
        .filter(Boolean)
        .join(', ');
      db.event({
        processId: m.process_id,
        node: m.to_node,
        kind: 'migrated',
        message: `process ${m.process_id} ${m.from_node === m.to_node ? `continued on ${m.to_node}` : `moved from ${m.from_node} to ${m.to_node}`}${stats ? ` (${stats})` : ''}`,
      });
    });
    bus.emit('process', m.process_id);
    cleanupImages(m, true);
    return toMigration(db.q.migrationById.get(done.id)!);
  }

  async function rollback(m: MigrationRow, cause: GodwitError, dump: DumpRecord): Promise<never> {
    const head = `process ${m.process_id} cannot move to ${m.to_node}: ${cause.message}`;
    m = transition(m, 'rolling-back', () => db.q.setMigrationFailure.run({ id: m.id, code: cause.code, reason: cause.message }));
    let restored: RestoreResult | undefined;
    try {
      // a direct dump left it stopped at the source: it simply runs on there
      if (dump.direct) await ctx.agent(m.from_node).resume(m.process_id, m.id);
      else restored = await ctx.agent(m.from_node).restore(m.process_id, rec.restoreRequest(m, dump));
    } catch (err) {
      const e = toGodwitError(err, 'GODWIT_ERR_MIGRATION_FAILED');
      if (e.code === 'GODWIT_ERR_AGENT_UNREACHABLE') {
        // its images (or its stopped tree) are at the source: restore it there once that agent is back
        const message = `${head}; the agent of ${m.from_node} cannot be reached to restore it (${e.message}): it is restored there as soon as that agent is back`;
        db.event({ processId: m.process_id, node: m.from_node, kind: 'rollback-pending', message });
        const pending = m;
        setTimeout(() => {
          lock.exclusive(pending.process_id, () => resume(pending)).catch((err2: unknown) =>
            log.error({ err: err2, migration: pending.id }, `could not finish rolling back migration ${pending.id}`),
          );
        }, 0);
        throw new GodwitError(cause.code, message, { ...cause.details, migrationId: m.id, rollbackError: e.toBody() });
      }
      const message = `${head}; restoring it on ${m.from_node} failed too (${e.message}): the process is lost`;
      finishLost(m, message);
      throw new GodwitError(cause.code, message, { ...cause.details, migrationId: m.id, rollbackError: e.toBody() });
    }
    const message = restored ? `${head}; it was restored on ${m.from_node} and keeps running there` : `${head}; it keeps running on ${m.from_node}`;
    const resumedAt = restored ? restored.restoredAt : Date.now();
    const stoppedMs = dump.stoppedAt !== null ? resumedAt - dump.stoppedAt : null;
    failAtSource(m, cause, message, () => {
      if (restored) {
        ended(m, m.from_node, stoppedMs);
        db.q.setResumed.run({ id: m.process_id, pid: restored.pid, epoch: m.from_epoch + 1 });
      } else {
        // the same run goes on: no new epoch for the output relay to look for
        ended(m, null, stoppedMs);
        db.q.endMigrating.run(m.process_id);
      }
    });
  }

  /**
   * After a direct dump, the program runs at the destination: its stopped copy at the source
   * ends, and input it had not read yet goes to the destination before any new input.
   */
  async function finishSource(m: MigrationRow): Promise<void> {
    try {
      const left = await retryUnreachable(ctx, () => ctx.agent(m.from_node).finish(m.process_id, m.id), SOURCE_RETRY_MS);
      recordHomePid(db, m.process_id, m.from_node, left.homePid);
      if (left.unread || left.stdinClosed) {
        await ctx.agent(m.to_node).stdin(m.process_id, Buffer.from(left.unread, 'base64'), left.stdinClosed);
      }
    } catch (err) {
      const message = `process ${m.process_id} runs on ${m.to_node}, but its stopped copy on ${m.from_node} could not be ended: ${toGodwitError(err, 'GODWIT_ERR_MIGRATION_FAILED').message}`;
      db.event({ processId: m.process_id, node: m.from_node, kind: 'stale-copy', message });
      log.error({ err, migration: m.id }, message);
    }
  }

  function finishStayed(m: MigrationRow, found: AgentProc, reason: string): Migration {
    const message = `process ${m.process_id} did not move to ${m.to_node}: ${reason}`;
    const end = transition(m, 'failed', () => {
      db.q.setMigrationFailure.run({ id: m.id, code: 'GODWIT_ERR_MIGRATION_FAILED', reason });
      ended(m, found.epoch === m.from_epoch + 1 ? m.from_node : null, null);
      db.q.setResumed.run({ id: m.process_id, pid: found.pid, epoch: found.epoch });
      db.event({ processId: m.process_id, node: m.from_node, kind: 'migration-failed', message });
    });
    bus.emit('process', m.process_id);
    cleanupImages(m);
    return toMigration(end);
  }

  function finishLost(m: MigrationRow, reason: string): Migration {
    const end = transition(m, 'failed', () => {
      if (!m.code) db.q.setMigrationFailure.run({ id: m.id, code: 'GODWIT_ERR_MIGRATION_FAILED', reason });
      ended(m, null, null);
      processLost(db, { id: m.process_id, node: m.from_node, message: reason });
    });
    bus.emit('process', m.process_id);
    return toMigration(end);
  }

  return { failBeforeDump, rollback, finishDone, finishSource, finishStayed, finishLost, cleanupImages };
}
