/**
 * Whether a request changed the orchestrator's database: temporary triggers on its connection
 * count every row inserted, updated or deleted, by table. Cheaper than a dump of every table
 * before and after each of thousands of requests, and exact: a write that leaves a row as it
 * was counts too.
 */
import type { Db } from '../../../orchestrator/src/db/index.js';

/** what the agents' reports rewrite every few hundred milliseconds, whatever a request does */
const HEARTBEAT: Record<string, string[]> = { nodes: ['last_seen', 'load'] };

export function watchChanges(db: Db['raw']): () => string {
  db.exec('CREATE TEMP TABLE IF NOT EXISTS fuzz_changes (tbl TEXT PRIMARY KEY, n INTEGER NOT NULL)');
  const tables = db.prepare(`SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).all() as { name: string }[];
  for (const { name } of tables) {
    const count = `INSERT INTO fuzz_changes VALUES ('${name}', 1) ON CONFLICT(tbl) DO UPDATE SET n = n + 1`;
    const skip = HEARTBEAT[name] ?? [];
    const columns = (db.prepare(`PRAGMA main.table_info("${name}")`).all() as { name: string }[]).map((c) => c.name).filter((c) => !skip.includes(c));
    const update = skip.length ? `UPDATE OF ${columns.map((c) => `"${c}"`).join(', ')}` : 'UPDATE';
    for (const [what, event] of [['ins', 'INSERT'], ['upd', update], ['del', 'DELETE']] as const) {
      db.exec(`CREATE TEMP TRIGGER IF NOT EXISTS "fuzz_${what}_${name}" AFTER ${event} ON main."${name}" BEGIN ${count}; END`);
    }
  }
  const read = db.prepare('SELECT tbl, n FROM fuzz_changes ORDER BY tbl');
  return () => JSON.stringify(read.all());
}
