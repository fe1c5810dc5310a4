/** The SQL on events: the log, pruned by age and count (its pages in pages.ts). */
import type { EventRow } from '../rows.js';
import type { Prepare } from '../statement.js';

export function eventsQueries(prep: Prepare) {
  return {
    insertEvent: prep<{ at: number; process_id: number | null; node: string | null; kind: string; message: string }>(
      'INSERT INTO events (at, process_id, node, kind, message) VALUES (@at, @process_id, @node, @kind, @message)',
    ),
    /** where a watch stream that names no start begins */
    lastEventId: prep<[], { id: number | null }>('SELECT MAX(id) AS id FROM events'),
    /** the oldest event kept, or when none is the next to be recorded: ids below it that were given have been pruned */
    firstKeptEventId: prep<[], { id: number }>(
      `SELECT COALESCE((SELECT MIN(id) FROM events), (SELECT seq + 1 FROM sqlite_sequence WHERE name = 'events'), 1) AS id`,
    ),
    /** removes events before a time (ms) or older than the newest `keep` */
    pruneEvents: prep<{ before: number; keep: number }>(
      `DELETE FROM events WHERE at < @before
       OR id <= COALESCE((SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET @keep), -1)`,
    ),
  };
}
