/** The SQL on checkpoints: each file as written and verified; a recycled path replaces its row. */
import type { CheckpointRow } from '../rows.js';
import type { Prepare } from '../statement.js';

export function checkpointsQueries(prep: Prepare) {
  return {
    upsertCheckpoint: prep<Omit<CheckpointRow, 'id'>>(
      `INSERT INTO checkpoints (process_id, number, path, bytes, mac, taken_at, node, stopped_ms, files, plain_bytes)
       VALUES (@process_id, @number, @path, @bytes, @mac, @taken_at, @node, @stopped_ms, @files, @plain_bytes)
       ON CONFLICT(path) DO UPDATE SET process_id = excluded.process_id, number = excluded.number, bytes = excluded.bytes,
         mac = excluded.mac, taken_at = excluded.taken_at, node = excluded.node, stopped_ms = excluded.stopped_ms,
         files = excluded.files, plain_bytes = excluded.plain_bytes`,
    ),
    checkpointsOf: prep<[number], CheckpointRow>('SELECT * FROM checkpoints WHERE process_id = ? ORDER BY number'),
    latestCheckpoint: prep<[number], CheckpointRow>('SELECT * FROM checkpoints WHERE process_id = ? ORDER BY number DESC LIMIT 1'),
    checkpointByPath: prep<[string], CheckpointRow>('SELECT * FROM checkpoints WHERE path = ?'),
  };
}
