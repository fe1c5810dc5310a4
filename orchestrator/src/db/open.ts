/**
 * Opening the database: a private file, SQLite's settings, the schema brought up to date, and every
 * statement prepared once. The database is the truth an orchestrator restarted at any moment
 * starts from.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { checkpointsQueries } from './queries/checkpoints.js';
import { eventsQueries } from './queries/events.js';
import { migrationsQueries } from './queries/migrations.js';
import { nodesQueries } from './queries/nodes.js';
import { pageQueries } from './queries/pages.js';
import { processesQueries } from './queries/processes.js';
import { queuedSignalsQueries } from './queries/queued-signals.js';
import { recoveriesQueries } from './queries/recoveries.js';
import { settingsQueries } from './queries/settings.js';
import { useQueries } from './queries/use.js';
import { SCHEMA } from './schema.js';
import { migrateSchema } from './schema-migrations.js';
import { preparer } from './statement.js';

/** every table's statements, under one flat name space: q.processById, q.insertEvent, ... */
function prepareAll(db: Database.Database) {
  const prep = preparer(db);
  return {
    ...nodesQueries(prep),
    ...processesQueries(prep),
    ...migrationsQueries(prep),
    ...checkpointsQueries(prep),
    ...recoveriesQueries(prep),
    ...queuedSignalsQueries(prep),
    ...settingsQueries(prep),
    ...eventsQueries(prep),
    ...useQueries(prep),
    ...pageQueries(db),
  };
}

type Statements = ReturnType<typeof prepareAll>;

export interface Db {
  raw: Database.Database;
  q: Statements;
  /** runs fn in one transaction */
  tx<T>(fn: () => T): T;
  /** records an event; the watch streams hear of it at once (openDb's onEvent) */
  event(e: { processId?: number | null; node?: string | null; kind: string; message: string }): void;
  /**
   * how many rows have been inserted, updated or deleted through this handle since it opened
   * (SQLite's total_changes()): what was read is still true while it stays the same, since the
   * orchestrator is the database's only writer and the schema has no triggers nor cascades,
   * whose changes it would not count
   */
  changes(): number;
  close(): void;
}

/**
 * The database holds every user's processes and events: only the orchestrator's account may
 * read it. SQLite gives its -wal and -shm files the database file's mode, so the file is made
 * 0600 before SQLite opens it; the chmods also mend what an earlier version left readable.
 */
function privateDbFile(dataDir: string): string {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(dataDir, 0o700);
  const file = join(dataDir, 'godwit.db');
  closeSync(openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
  return file;
}

/** onEvent: told each event's id once it is recorded (the watch streams follow it) */
export function openDb(dataDir: string, onEvent: (id: number) => void = () => {}): Db {
  const raw = new Database(privateDbFile(dataDir));
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = NORMAL');
  raw.pragma('foreign_keys = ON');
  raw.exec(SCHEMA);
  migrateSchema(raw);
  const q = prepareAll(raw);
  const totalChanges = raw.prepare('SELECT total_changes()').pluck();
  return {
    raw,
    q,
    tx: <T>(fn: () => T): T => raw.transaction(fn)(),
    event: (e) => {
      const { lastInsertRowid } = q.insertEvent.run({
        at: Date.now(),
        process_id: e.processId ?? null,
        node: e.node ?? null,
        kind: e.kind,
        message: e.message,
      });
      onEvent(Number(lastInsertRowid));
    },
    changes: () => totalChanges.get() as number,
    close: () => raw.close(),
  };
}
