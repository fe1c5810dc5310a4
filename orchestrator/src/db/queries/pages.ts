/**
 * The SQL of the API's paged lists (processes, migrations, events): only the filters a request
 * names become conditions, so each can use its index (schema.ts), where `(? IS NULL OR col = ?)`
 * would scan. Each shape of query is prepared once and kept.
 */
import type Database from 'better-sqlite3';
import type { EventRow, MigrationRow, ProcessRow } from '../rows.js';

/** one condition of a WHERE, with the values of its placeholders */
type Cond = readonly [sql: string, values: readonly unknown[]];

/** What a page asks for: each filter only when given. */
export interface PageFilter {
  /** only rows of processes of this owner */
  owner?: string;
  states?: readonly string[];
  node?: string;
  /** ms since the epoch */
  since?: number;
  /** only rows after this id (the cursor's) */
  afterId?: number;
  /** events only */
  processId?: number;
  kind?: string;
  /** rows at most; all when absent */
  limit?: number;
  /** newest first (the events' last 1000, without a cursor) */
  newestFirst?: boolean;
}

const placeholders = (n: number) => Array.from({ length: n }, () => '?').join(', ');

/** a table's columns for the filters; `node` is a condition whose every ? takes the node */
interface Columns {
  id: string;
  owner: string;
  state?: string;
  node: string;
  since: string;
}

function conds(f: PageFilter, col: Columns): Cond[] {
  const c: Cond[] = [];
  if (f.owner !== undefined) c.push([`${col.owner} = ?`, [f.owner]]);
  if (col.state && f.states?.length) c.push([`${col.state} IN (${placeholders(f.states.length)})`, f.states]);
  if (f.node !== undefined) c.push([col.node, col.node.split('?').slice(1).map(() => f.node)]);
  if (f.since !== undefined) c.push([`${col.since} >= ?`, [f.since]]);
  if (f.afterId !== undefined) c.push([`${col.id} > ?`, [f.afterId]]);
  return c;
}

export function pageQueries(raw: Database.Database) {
  const prepared = new Map<string, Database.Statement>();
  function page<R>(select: string, where: Cond[], id: string, f: PageFilter): R[] {
    const sql = [
      select,
      where.length ? `WHERE ${where.map(([s]) => s).join(' AND ')}` : '',
      `ORDER BY ${id} ${f.newestFirst ? 'DESC' : 'ASC'}`,
      f.limit !== undefined ? 'LIMIT ?' : '',
    ].join(' ');
    let stmt = prepared.get(sql);
    if (!stmt) prepared.set(sql, (stmt = raw.prepare(sql)));
    const values = [...where.flatMap(([, v]) => v), ...(f.limit !== undefined ? [f.limit] : [])];
    return stmt.all(...values) as R[];
  }
  return {
    processesPage: (f: PageFilter) =>
      page<ProcessRow>('SELECT * FROM processes', conds(f, { id: 'id', owner: 'owner', state: 'state', node: 'node = ?', since: 'created_at' }), 'id', f),
    migrationsPage: (f: PageFilter) =>
      page<MigrationRow>(
        f.owner === undefined ? 'SELECT m.* FROM migrations m' : 'SELECT m.* FROM migrations m JOIN processes p ON p.id = m.process_id',
        conds(f, { id: 'm.id', owner: 'p.owner', state: 'm.state', node: '(m.from_node = ? OR m.to_node = ?)', since: 'm.started_at' }),
        'm.id',
        f,
      ),
    eventsPage: (f: PageFilter) =>
      page<EventRow>(
        f.owner === undefined ? 'SELECT e.* FROM events e' : 'SELECT e.* FROM events e JOIN processes p ON p.id = e.process_id',
        [
          ...conds(f, { id: 'e.id', owner: 'p.owner', node: 'e.node = ?', since: 'e.at' }),
          ...(f.processId !== undefined ? [['e.process_id = ?', [f.processId]] as const] : []),
          ...(f.kind !== undefined ? [['e.kind = ?', [f.kind]] as const] : []),
        ],
        'e.id',
        f,
      ),
  };
}
