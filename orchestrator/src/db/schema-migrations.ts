/**
 * Migrations of the schema: what a database written by an earlier version lacks. schema.ts gives a
 * new database every column; an old one keeps its tables, so columns renamed or added since are
 * mended here, in place, keeping its rows.
 */
import type Database from 'better-sqlite3';

/** Columns added since the first schema: a database from before gets them, with their defaults. */
const ADDED_COLUMNS: [table: string, column: string, declaration: string][] = [
  ['processes', 'frz', "TEXT NOT NULL DEFAULT '-'"],
  ['migrations', 'strategy_reason', 'TEXT'],
  ['nodes', 'drained', 'INTEGER NOT NULL DEFAULT 0'],
  ['migrations', 'on_demand_bytes', 'INTEGER'],
  ['migrations', 'background_bytes', 'INTEGER'],
  ['migrations', 'released_at', 'INTEGER'],
  ['processes', 'locked', 'INTEGER NOT NULL DEFAULT 0'],
  ['processes', 'ckpt_file', 'TEXT'],
  ['processes', 'ckpt_max', 'INTEGER'],
  ['processes', 'ckpt_every_ms', 'INTEGER'],
  ['processes', 'ckpt_count', 'INTEGER NOT NULL DEFAULT 0'],
  ['processes', 'last_ckpt_at', 'INTEGER'],
  ['processes', 'recover_on_failure', 'INTEGER NOT NULL DEFAULT 0'],
  ['processes', 'need_mem_bytes', 'INTEGER NOT NULL DEFAULT 0'],
  ['processes', 'failure', 'TEXT'],
  ['migrations', 'arrived_at', 'INTEGER'],
  ['processes', 'last_frozen_for_ms', 'INTEGER'],
  ['processes', 'exit_checkpoint', 'TEXT'],
  ['processes', 'attached', 'INTEGER NOT NULL DEFAULT 0'],
  ['processes', 'closed_output', "TEXT NOT NULL DEFAULT ''"],
  ['processes', 'died_oom', 'INTEGER NOT NULL DEFAULT 0'],
  ['processes', 'died_reason', 'TEXT'],
  ['nodes', 'platform', 'TEXT'],
  ['processes', 'earlier_oom_kills', 'INTEGER NOT NULL DEFAULT 0'],
  ['processes', 'earlier_oom_node', 'TEXT'],
  ['processes', 'auto_ckpt_paused', 'TEXT'],
  ['checkpoints', 'plain_bytes', 'INTEGER'],
  ['processes', 'ckpt_compress', 'INTEGER'],
  ['processes', 'address', 'TEXT'],
];

/**
 * Indexes on columns added since the first schema (so made after them): an address is held by one
 * process at a time while it runs, moves or is frozen, and comes back when it ends (address-pool.ts).
 */
const ADDED_INDEXES = `
CREATE UNIQUE INDEX IF NOT EXISTS processes_live_address ON processes(address)
  WHERE address IS NOT NULL AND state IN ('running', 'migrating', 'frozen');
`;

function hasColumn(raw: Database.Database, table: string, column: string): boolean {
  return (raw.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).some((c) => c.name === column);
}

/**
 * Columns renamed since: a database from before has the old name. A checkpoint's sha256 became
 * its MAC, now its sealed file's id; the old rows keep their SHA-256 there, which no id matches:
 * files from before are not sealed and are refused anyway. The time CRIU keeps a program stopped was called frozen, a name
 * now left to MOSIX's freeze.
 */
const RENAMED_COLUMNS: [table: string, from: string, to: string][] = [
  ['checkpoints', 'sha256', 'mac'],
  ['processes', 'last_frozen_ms', 'last_stopped_ms'],
  ['migrations', 'frozen_ms', 'stopped_ms'],
  ['checkpoints', 'frozen_ms', 'stopped_ms'],
];

function renameOldColumns(raw: Database.Database): void {
  for (const [table, from, to] of RENAMED_COLUMNS) {
    if (hasColumn(raw, table, from)) raw.exec(`ALTER TABLE ${table} RENAME COLUMN ${from} TO ${to}`);
  }
}

function addMissingColumns(raw: Database.Database): void {
  for (const [table, column, declaration] of ADDED_COLUMNS) {
    if (!hasColumn(raw, table, column)) raw.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${declaration}`);
  }
}

/** Brings a database written by an earlier version up to the schema (CREATE IF NOT EXISTS made the rest). */
export function migrateSchema(raw: Database.Database): void {
  renameOldColumns(raw);
  addMissingColumns(raw);
  raw.exec(ADDED_INDEXES);
}
