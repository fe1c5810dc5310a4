/** The SQL on recoveries: a row's id names the images that recovery restores from. */
import type { Prepare } from '../statement.js';

export function recoveriesQueries(prep: Prepare) {
  return {
    insertRecovery: prep<{ process_id: number | null; path: string; node: string; started_at: number }>(
      'INSERT INTO recoveries (process_id, path, node, started_at) VALUES (@process_id, @path, @node, @started_at)',
    ),
    setRecoveryProcess: prep<{ id: number; process_id: number }>('UPDATE recoveries SET process_id = @process_id WHERE id = @id'),
  };
}
