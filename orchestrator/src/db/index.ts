/**
 * The orchestrator's SQLite state. Where the SQL is: the tables in schema.ts, what an older
 * database lacks in schema-migrations.ts, each table's statements in queries/, its rows in
 * rows.ts and the API shapes made from them in mappers.ts.
 */
export { type Db, openDb } from './open.js';
export type { CheckpointRow, DumpRecord, MigrationRow, ProcessRow } from './rows.js';
export { diedOf, toCheckpoint, toDumpRecord, toEvent, toMigration, toNode, toProcess } from './mappers.js';
