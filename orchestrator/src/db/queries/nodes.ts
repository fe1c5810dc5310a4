/** The SQL on nodes: their addresses, whether they answer, what they report, whether drained. */
import type { NodeRow } from '../rows.js';
import type { Prepare } from '../statement.js';

export function nodesQueries(prep: Prepare) {
  return {
    upsertConfiguredNode: prep<{ name: string; url: string }>(
      `INSERT INTO nodes (name, url, state) VALUES (@name, @url, 'offline')
       ON CONFLICT(name) DO UPDATE SET url = excluded.url, state = 'offline'`,
    ),
    nodeByName: prep<[string], NodeRow>('SELECT * FROM nodes WHERE name = ?'),
    allNodes: prep<[], NodeRow>('SELECT * FROM nodes'),
    setNodeOnline: prep<{ name: string; url: string; at: number; features: string; platform: string }>(
      `UPDATE nodes SET state = 'online', url = @url, last_seen = @at, features = @features, platform = @platform WHERE name = @name`,
    ),
    setNodeLoad: prep<{ name: string; at: number; load: string }>(
      'UPDATE nodes SET last_seen = @at, load = @load WHERE name = @name',
    ),
    setNodeOffline: prep<[string]>(`UPDATE nodes SET state = 'offline' WHERE name = ?`),
    setNodeDrained: prep<{ name: string; drained: number }>('UPDATE nodes SET drained = @drained WHERE name = @name'),
  };
}
