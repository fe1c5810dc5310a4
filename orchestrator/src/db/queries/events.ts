/** The SQL on events: the log, newest 1000 per view, pruned by age and count. */
import type { EventRow } from '../rows.js';
import type { Prepare } from '../statement.js';

export function eventsQueries(prep: Prepare) {
  return {
    insertEvent: prep<{ at: number; process_id: number | null; node: string | null; kind: string; message: string }>(
      'INSERT INTO events (at, process_id, node, kind, message) VALUES (@at, @process_id, @node, @kind, @message)',
    ),
    eventsAll: prep<[], EventRow>('SELECT * FROM (SELECT * FROM events ORDER BY id DESC LIMIT 1000) ORDER BY id'),
    eventsOfOwner: prep<[string], EventRow>(
      `SELECT * FROM (SELECT e.* FROM events e JOIN processes p ON p.id = e.process_id
       WHERE p.owner = ? ORDER BY e.id DESC LIMIT 1000) ORDER BY id`,
    ),
    eventsOfProcess: prep<[number], EventRow>(
      'SELECT * FROM (SELECT * FROM events WHERE process_id = ? ORDER BY id DESC LIMIT 1000) ORDER BY id',
    ),
    /** removes events before a time (ms) or older than the newest `keep` */
    pruneEvents: prep<{ before: number; keep: number }>(
      `DELETE FROM events WHERE at < @before
       OR id <= COALESCE((SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET @keep), -1)`,
    ),
  };
}
