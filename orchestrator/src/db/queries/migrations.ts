/** The SQL on migrations (a freeze is one that waits half way): state, steps, figures. */
import type { MigrationState } from '@godwit/schemas';
import type { MigrationRow } from '../rows.js';
import type { Prepare } from '../statement.js';

export function migrationsQueries(prep: Prepare) {
  return {
    insertMigration: prep<{
      process_id: number; from_node: string; to_node: string; strategy: string; strategy_reason: string | null;
      steps: string; from_epoch: number; started_at: number;
    }>(
      `INSERT INTO migrations (process_id, from_node, to_node, strategy, strategy_reason, state, steps, from_epoch, started_at)
       VALUES (@process_id, @from_node, @to_node, @strategy, @strategy_reason, 'requested', @steps, @from_epoch, @started_at)`,
    ),
    migrationById: prep<[number], MigrationRow>('SELECT * FROM migrations WHERE id = ?'),
    migrationsOf: prep<[number], MigrationRow>('SELECT * FROM migrations WHERE process_id = ? ORDER BY id'),
    unfinishedMigrations: prep<[], MigrationRow>(
      `SELECT * FROM migrations WHERE state NOT IN ('done', 'failed', 'frozen') ORDER BY id`,
    ),
    lastMigrationId: prep<[], { id: number | null }>('SELECT MAX(id) AS id FROM migrations'),
    frozenMigration: prep<[number], MigrationRow>(
      `SELECT * FROM migrations WHERE process_id = ? AND state = 'frozen' ORDER BY id DESC LIMIT 1`,
    ),
    setMigrationTo: prep<{ id: number; to_node: string }>('UPDATE migrations SET to_node = @to_node WHERE id = @id'),
    migrationRestoring: prep<{ process_id: number; from_epoch: number }, MigrationRow>(
      `SELECT * FROM migrations WHERE process_id = @process_id AND from_epoch = @from_epoch
       AND restored_on IS NOT NULL ORDER BY id DESC LIMIT 1`,
    ),
    setMigrationState: prep<{ id: number; state: MigrationState; steps: string }>(
      'UPDATE migrations SET state = @state, steps = @steps WHERE id = @id',
    ),
    setMigrationDump: prep<{ id: number; dump: string }>('UPDATE migrations SET dump = @dump WHERE id = @id'),
    setMigrationBytes: prep<{ id: number; bytes: number }>('UPDATE migrations SET bytes = @bytes WHERE id = @id'),
    setMigrationStrategy: prep<{ id: number; strategy: string; strategy_reason: string }>(
      'UPDATE migrations SET strategy = @strategy, strategy_reason = @strategy_reason WHERE id = @id',
    ),
    setMigrationStoppedMs: prep<{ id: number; stopped_ms: number | null }>('UPDATE migrations SET stopped_ms = @stopped_ms WHERE id = @id'),
    setMigrationPages: prep<{ id: number; on_demand_bytes: number; background_bytes: number; arrived_at: number | null; released_at: number }>(
      `UPDATE migrations SET on_demand_bytes = @on_demand_bytes, background_bytes = @background_bytes,
       arrived_at = @arrived_at, released_at = @released_at WHERE id = @id`,
    ),
    setMigrationFailure: prep<{ id: number; code: string; reason: string }>(
      'UPDATE migrations SET code = @code, reason = @reason WHERE id = @id',
    ),
    endMigration: prep<{
      id: number; restored_on: string | null; stopped_ms: number | null; total_ms: number; ended_at: number;
    }>(
      `UPDATE migrations SET restored_on = @restored_on, stopped_ms = @stopped_ms, total_ms = @total_ms,
       ended_at = @ended_at WHERE id = @id`,
    ),
  };
}
