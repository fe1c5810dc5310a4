/** The SQL on queued_signals: signals sent to a frozen process, delivered once it runs again. */
import type { QueuedSignalRow } from '../rows.js';
import type { Prepare } from '../statement.js';

export function queuedSignalsQueries(prep: Prepare) {
  return {
    queueSignal: prep<Omit<QueuedSignalRow, 'id'>>(
      'INSERT INTO queued_signals (process_id, signal, sender, queued_at) VALUES (@process_id, @signal, @sender, @queued_at)',
    ),
    queuedSignalsOf: prep<[number], QueuedSignalRow>('SELECT * FROM queued_signals WHERE process_id = ? ORDER BY id'),
    dropQueuedSignal: prep<[number]>('DELETE FROM queued_signals WHERE id = ?'),
    dropQueuedSignalsOf: prep<[number]>('DELETE FROM queued_signals WHERE process_id = ?'),
  };
}
