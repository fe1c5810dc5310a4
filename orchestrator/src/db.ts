/**
 * SQLite state: nodes, processes, migrations, events. The database is the truth an orchestrator
 * restarted at any moment starts from. SQL lives here, in statements prepared once.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { freezeTimes } from './freeze-times.js';
import type {
  Checkpoint,
  Event,
  FreezeReason,
  Migration,
  MigrationState,
  Node,
  NodeFeatures,
  NodeLoad,
  Process,
  ProcessState,
  StreamInodes,
} from '@godwit/schemas';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS nodes (
  name TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  state TEXT NOT NULL,
  last_seen INTEGER,
  features TEXT,
  load TEXT,
  -- MOSIX's expel (mosctl drain): nothing new starts or moves here
  drained INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS processes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  owner TEXT NOT NULL,
  argv TEXT NOT NULL,
  cwd TEXT NOT NULL,
  home_node TEXT NOT NULL,
  node TEXT NOT NULL,
  pid INTEGER,
  orig_pid INTEGER,
  nmigs INTEGER NOT NULL DEFAULT 0,
  state TEXT NOT NULL,
  exit_code INTEGER,
  exit_signal TEXT,
  created_at INTEGER NOT NULL,
  ended_at INTEGER,
  last_frozen_ms INTEGER,
  -- the run (epoch) the program is in now, on node
  epoch INTEGER NOT NULL DEFAULT 0,
  -- where the output relay is: the epoch it reads, on which node, how far (whole frames), and
  -- whether it has read that epoch's end frame
  out_node TEXT NOT NULL,
  out_epoch INTEGER NOT NULL DEFAULT 0,
  out_epoch_offset INTEGER NOT NULL DEFAULT 0,
  out_epoch_ended INTEGER NOT NULL DEFAULT 0,
  -- payload bytes of output so far, and how they are kept on the home node's agent: its newest
  -- segment starts at log_base and is valid for log_size bytes; an older one starts at log1_base
  -- (null when there is none)
  out_offset INTEGER NOT NULL DEFAULT 0,
  log_base INTEGER NOT NULL DEFAULT 0,
  log_size INTEGER NOT NULL DEFAULT 0,
  log1_base INTEGER,
  -- MOSIX's FRZ: why it is frozen (M, A, E) or '-'; N on a running one that cannot be frozen
  frz TEXT NOT NULL DEFAULT '-',
  -- mosrun -L: the balancer never moves it
  locked INTEGER NOT NULL DEFAULT 0,
  -- mosrun -C FILE -N MAX -A MINUTES: checkpoints go to FILE.1, FILE.2, ... (FILE absolute)
  ckpt_file TEXT,
  ckpt_max INTEGER,
  ckpt_every_ms INTEGER,
  ckpt_count INTEGER NOT NULL DEFAULT 0,
  last_ckpt_at INTEGER,
  -- mosrun --recover-on-failure: recovered from its latest checkpoint if its node is lost
  recover_on_failure INTEGER NOT NULL DEFAULT 0,
  -- memory it said (its control file needmem) it is about to need, beyond its resident memory
  need_mem_bytes INTEGER NOT NULL DEFAULT 0,
  -- how long it stayed frozen before its last move, a continue (not in last_frozen_ms)
  last_frozen_for_ms INTEGER,
  -- the checkpoint after which mosmigrate ID exit ended it; set before the agent ends it, so that
  -- the exit its followers see names it, and cleared if the checkpoint fails (it runs on)
  exit_checkpoint TEXT,
  -- why it could not start (state failed)
  failure TEXT,
  -- started attached (mosrun without --detach): SIGHUP once its last attached follower is gone
  attached INTEGER NOT NULL DEFAULT 0,
  -- output streams whose reader is gone (mosrun's stdout closed): 'stdout', 'stderr', comma-separated
  closed_output TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS processes_owner ON processes(owner, state);
CREATE TABLE IF NOT EXISTS migrations (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  process_id INTEGER NOT NULL REFERENCES processes(id),
  from_node TEXT NOT NULL,
  to_node TEXT NOT NULL,
  strategy TEXT NOT NULL,
  strategy_reason TEXT,
  state TEXT NOT NULL,
  steps TEXT NOT NULL,
  from_epoch INTEGER NOT NULL,
  dump TEXT,
  -- node where epoch from_epoch + 1 runs: to_node when done, from_node when rolled back
  restored_on TEXT,
  frozen_ms INTEGER,
  total_ms INTEGER,
  bytes INTEGER,
  -- a lazy migration's pages after the program resumed: touched by it, pushed in the background
  on_demand_bytes INTEGER,
  background_bytes INTEGER,
  -- when the destination had the program's last page, and when the source released it
  arrived_at INTEGER,
  released_at INTEGER,
  code TEXT,
  reason TEXT,
  started_at INTEGER NOT NULL,
  ended_at INTEGER
);
CREATE INDEX IF NOT EXISTS migrations_process ON migrations(process_id);
-- each checkpoint file, as written and verified; a file recycled by rotation replaces its row
CREATE TABLE IF NOT EXISTS checkpoints (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  process_id INTEGER NOT NULL REFERENCES processes(id),
  number INTEGER NOT NULL,
  path TEXT NOT NULL UNIQUE,
  bytes INTEGER NOT NULL,
  -- the file's HMAC-SHA256 with the cluster key (hex), the tag in its trailer
  mac TEXT NOT NULL,
  taken_at INTEGER NOT NULL,
  node TEXT NOT NULL,
  frozen_ms INTEGER NOT NULL,
  files TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS checkpoints_process ON checkpoints(process_id);
-- recoveries from checkpoints: their ids name the images they are restored from, in a range of
-- their own so they never meet a migration's
CREATE TABLE IF NOT EXISTS recoveries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  process_id INTEGER,
  path TEXT NOT NULL,
  node TEXT NOT NULL,
  started_at INTEGER NOT NULL
);
INSERT OR IGNORE INTO sqlite_sequence (name, seq) SELECT 'recoveries', 1000000000
  WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'recoveries');
-- settings changed at run time (the balancer's), as JSON by name
CREATE TABLE IF NOT EXISTS settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  process_id INTEGER,
  node TEXT,
  kind TEXT NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_process ON events(process_id);
-- signals sent to a frozen process, delivered in order once it runs again
CREATE TABLE IF NOT EXISTS queued_signals (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  process_id INTEGER NOT NULL REFERENCES processes(id),
  signal TEXT NOT NULL,
  sender TEXT NOT NULL,
  queued_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS queued_signals_process ON queued_signals(process_id);
`;

export interface ProcessRow {
  id: number;
  owner: string;
  argv: string;
  cwd: string;
  home_node: string;
  node: string;
  pid: number | null;
  orig_pid: number | null;
  nmigs: number;
  state: ProcessState;
  exit_code: number | null;
  exit_signal: string | null;
  created_at: number;
  ended_at: number | null;
  last_frozen_ms: number | null;
  epoch: number;
  out_node: string;
  out_epoch: number;
  out_epoch_offset: number;
  out_epoch_ended: number;
  out_offset: number;
  log_base: number;
  log_size: number;
  log1_base: number | null;
  frz: FreezeReason;
  locked: number;
  ckpt_file: string | null;
  ckpt_max: number | null;
  ckpt_every_ms: number | null;
  ckpt_count: number;
  last_ckpt_at: number | null;
  recover_on_failure: number;
  need_mem_bytes: number;
  last_frozen_for_ms: number | null;
  exit_checkpoint: string | null;
  failure: string | null;
  attached: number;
  closed_output: string;
}

export interface QueuedSignalRow {
  id: number;
  process_id: number;
  signal: string;
  sender: string;
  queued_at: number;
}

export interface CheckpointRow {
  id: number;
  process_id: number;
  number: number;
  path: string;
  bytes: number;
  mac: string;
  taken_at: number;
  node: string;
  frozen_ms: number;
  files: string;
}

export interface MigrationRow {
  id: number;
  process_id: number;
  from_node: string;
  to_node: string;
  strategy: string;
  strategy_reason: string | null;
  state: MigrationState;
  steps: string;
  from_epoch: number;
  dump: string | null;
  restored_on: string | null;
  frozen_ms: number | null;
  total_ms: number | null;
  bytes: number | null;
  on_demand_bytes: number | null;
  background_bytes: number | null;
  arrived_at: number | null;
  released_at: number | null;
  code: string | null;
  reason: string | null;
  started_at: number;
  ended_at: number | null;
}

interface NodeRow {
  name: string;
  url: string;
  state: 'online' | 'offline';
  last_seen: number | null;
  features: string | null;
  load: string | null;
  drained: number;
}

interface EventRow {
  id: number;
  at: number;
  process_id: number | null;
  node: string | null;
  kind: string;
  message: string;
}

/** What dump returned, kept so a restore (here or after a restart) can use it. */
export interface DumpRecord {
  /** null when the dump's answer was never recorded (the orchestrator stopped first) */
  frozenAt: number | null;
  inodes: StreamInodes;
  bytes: number;
  /** the pages went straight to the destination; the source holds the program stopped */
  direct?: boolean;
  /** the pages stay at the source until the destination pulls them, after the restore */
  lazy?: boolean;
}

type Params<P> = P extends unknown[] ? P : [P];

/** the part of a prepared statement used here, typed by its parameters P and rows R */
export interface Stmt<P, R> {
  run(...params: Params<P>): Database.RunResult;
  get(...params: Params<P>): R | undefined;
  all(...params: Params<P>): R[];
}

function prepareAll(db: Database.Database) {
  const prep = <P extends unknown[] | object = [], R = unknown>(sql: string): Stmt<P, R> =>
    db.prepare(sql) as unknown as Stmt<P, R>;
  return {
    upsertConfiguredNode: prep<{ name: string; url: string }>(
      `INSERT INTO nodes (name, url, state) VALUES (@name, @url, 'offline')
       ON CONFLICT(name) DO UPDATE SET url = excluded.url, state = 'offline'`,
    ),
    nodeByName: prep<[string], NodeRow>('SELECT * FROM nodes WHERE name = ?'),
    allNodes: prep<[], NodeRow>('SELECT * FROM nodes'),
    setNodeOnline: prep<{ name: string; url: string; at: number; features: string }>(
      `UPDATE nodes SET state = 'online', url = @url, last_seen = @at, features = @features WHERE name = @name`,
    ),
    setNodeLoad: prep<{ name: string; at: number; load: string }>(
      'UPDATE nodes SET last_seen = @at, load = @load WHERE name = @name',
    ),
    setNodeOffline: prep<[string]>(`UPDATE nodes SET state = 'offline' WHERE name = ?`),
    setNodeDrained: prep<{ name: string; drained: number }>('UPDATE nodes SET drained = @drained WHERE name = @name'),
    runningOn: prep<[string], ProcessRow>(`SELECT * FROM processes WHERE node = ? AND state = 'running' ORDER BY id`),

    insertProcess: prep<{
      owner: string; argv: string; cwd: string; home_node: string; node: string; created_at: number; locked: number;
      ckpt_file: string | null; ckpt_max: number | null; ckpt_every_ms: number | null; recover_on_failure: number;
    }>(
      `INSERT INTO processes (owner, argv, cwd, home_node, node, state, created_at, epoch, out_node, locked,
         ckpt_file, ckpt_max, ckpt_every_ms, recover_on_failure)
       VALUES (@owner, @argv, @cwd, @home_node, @node, 'running', @created_at, 0, @node, @locked,
         @ckpt_file, @ckpt_max, @ckpt_every_ms, @recover_on_failure)`,
    ),
    setCheckpointTaken: prep<{ id: number; ckpt_file: string; ckpt_count: number; last_ckpt_at: number }>(
      'UPDATE processes SET ckpt_file = @ckpt_file, ckpt_count = @ckpt_count, last_ckpt_at = @last_ckpt_at WHERE id = @id',
    ),
    checkpointDue: prep<[number], ProcessRow>(
      `SELECT * FROM processes WHERE state = 'running' AND ckpt_every_ms IS NOT NULL
       AND COALESCE(last_ckpt_at, created_at) + ckpt_every_ms <= ? ORDER BY id`,
    ),
    upsertCheckpoint: prep<Omit<CheckpointRow, 'id'>>(
      `INSERT INTO checkpoints (process_id, number, path, bytes, mac, taken_at, node, frozen_ms, files)
       VALUES (@process_id, @number, @path, @bytes, @mac, @taken_at, @node, @frozen_ms, @files)
       ON CONFLICT(path) DO UPDATE SET process_id = excluded.process_id, number = excluded.number, bytes = excluded.bytes,
         mac = excluded.mac, taken_at = excluded.taken_at, node = excluded.node, frozen_ms = excluded.frozen_ms,
         files = excluded.files`,
    ),
    checkpointsOf: prep<[number], CheckpointRow>('SELECT * FROM checkpoints WHERE process_id = ? ORDER BY number'),
    latestCheckpoint: prep<[number], CheckpointRow>('SELECT * FROM checkpoints WHERE process_id = ? ORDER BY number DESC LIMIT 1'),
    checkpointByPath: prep<[string], CheckpointRow>('SELECT * FROM checkpoints WHERE path = ?'),
    insertRecovery: prep<{ process_id: number | null; path: string; node: string; started_at: number }>(
      'INSERT INTO recoveries (process_id, path, node, started_at) VALUES (@process_id, @path, @node, @started_at)',
    ),
    setRecoveryProcess: prep<{ id: number; process_id: number }>('UPDATE recoveries SET process_id = @process_id WHERE id = @id'),
    setRecovered: prep<{ id: number; node: string; pid: number | null; epoch: number }>(
      `UPDATE processes SET node = @node, pid = @pid, epoch = @epoch, state = 'running', frz = '-' WHERE id = @id`,
    ),
    processById: prep<[number], ProcessRow>('SELECT * FROM processes WHERE id = ?'),
    processByOrigPid: prep<{ pid: number; owner: string }, ProcessRow>(
      `SELECT * FROM processes WHERE orig_pid = @pid AND owner = @owner
       ORDER BY (state IN ('running', 'migrating')) DESC, id DESC LIMIT 1`,
    ),
    processesOf: prep<[string], ProcessRow>('SELECT * FROM processes WHERE owner = ? ORDER BY id'),
    allProcesses: prep<[], ProcessRow>('SELECT * FROM processes ORDER BY id'),
    liveProcesses: prep<[], ProcessRow>(
      `SELECT * FROM processes WHERE state IN ('running', 'migrating', 'frozen') ORDER BY id`,
    ),
    setFrozen: prep<{ id: number; frz: FreezeReason }>(
      `UPDATE processes SET state = 'frozen', frz = @frz, pid = NULL WHERE id = @id`,
    ),
    /** N on a running process (an automatic freeze it cannot take), or '-' to clear it */
    setRunningFrz: prep<{ id: number; frz: 'N' | '-' }>(
      `UPDATE processes SET frz = @frz WHERE id = @id AND state = 'running'`,
    ),
    setAttached: prep<{ id: number; attached: number }>('UPDATE processes SET attached = @attached WHERE id = @id'),
    setClosedOutput: prep<{ id: number; closed_output: string }>('UPDATE processes SET closed_output = @closed_output WHERE id = @id'),
    setLaunched: prep<{ id: number; pid: number | null }>(
      'UPDATE processes SET pid = @pid, orig_pid = @pid WHERE id = @id',
    ),
    setPid: prep<{ id: number; pid: number | null }>(
      'UPDATE processes SET pid = @pid, orig_pid = COALESCE(orig_pid, @pid) WHERE id = @id',
    ),
    setLocked: prep<{ id: number; locked: number }>('UPDATE processes SET locked = @locked WHERE id = @id'),
    setNeedMem: prep<{ id: number; bytes: number }>('UPDATE processes SET need_mem_bytes = @bytes WHERE id = @id'),
    setProcessState: prep<{ id: number; state: ProcessState }>(
      'UPDATE processes SET state = @state WHERE id = @id',
    ),
    endProcess: prep<{
      id: number; state: ProcessState; exit_code: number | null; exit_signal: string | null; ended_at: number;
    }>(
      `UPDATE processes SET state = @state, exit_code = @exit_code, exit_signal = @exit_signal,
       ended_at = @ended_at WHERE id = @id`,
    ),
    /** a start (or recovery) that never ran */
    failStart: prep<{ id: number; failure: string; ended_at: number }>(
      `UPDATE processes SET state = 'failed', failure = @failure, ended_at = @ended_at WHERE id = @id`,
    ),
    setMigrated: prep<{
      id: number; node: string; pid: number | null; epoch: number; last_frozen_ms: number | null; last_frozen_for_ms: number | null;
    }>(
      `UPDATE processes SET node = @node, pid = @pid, epoch = @epoch, nmigs = nmigs + 1,
       last_frozen_ms = @last_frozen_ms, last_frozen_for_ms = @last_frozen_for_ms, state = 'running', frz = '-' WHERE id = @id`,
    ),
    setExitCheckpoint: prep<{ id: number; path: string | null }>('UPDATE processes SET exit_checkpoint = @path WHERE id = @id'),
    queueSignal: prep<Omit<QueuedSignalRow, 'id'>>(
      'INSERT INTO queued_signals (process_id, signal, sender, queued_at) VALUES (@process_id, @signal, @sender, @queued_at)',
    ),
    queuedSignalsOf: prep<[number], QueuedSignalRow>('SELECT * FROM queued_signals WHERE process_id = ? ORDER BY id'),
    dropQueuedSignal: prep<[number]>('DELETE FROM queued_signals WHERE id = ?'),
    dropQueuedSignalsOf: prep<[number]>('DELETE FROM queued_signals WHERE process_id = ?'),
    setResumed: prep<{ id: number; pid: number | null; epoch: number }>(
      `UPDATE processes SET pid = @pid, epoch = @epoch, state = 'running' WHERE id = @id AND state = 'migrating'`,
    ),
    endMigrating: prep<[number]>(`UPDATE processes SET state = 'running' WHERE id = ? AND state = 'migrating'`),
    setOutputProgress: prep<{
      id: number; out_epoch_offset: number; out_epoch_ended: number; out_offset: number;
    }>(
      `UPDATE processes SET out_epoch_offset = @out_epoch_offset, out_epoch_ended = @out_epoch_ended,
       out_offset = @out_offset WHERE id = @id`,
    ),
    setOutputEpoch: prep<{ id: number; out_node: string; out_epoch: number }>(
      `UPDATE processes SET out_node = @out_node, out_epoch = @out_epoch, out_epoch_offset = 0,
       out_epoch_ended = 0 WHERE id = @id`,
    ),
    setLogLayout: prep<{ id: number; log1_base: number | null; log_base: number; log_size: number }>(
      'UPDATE processes SET log1_base = @log1_base, log_base = @log_base, log_size = @log_size WHERE id = @id',
    ),

    insertMigration: prep<{
      process_id: number; from_node: string; to_node: string; strategy: string; strategy_reason: string | null;
      steps: string; from_epoch: number; started_at: number;
    }>(
      `INSERT INTO migrations (process_id, from_node, to_node, strategy, strategy_reason, state, steps, from_epoch, started_at)
       VALUES (@process_id, @from_node, @to_node, @strategy, @strategy_reason, 'requested', @steps, @from_epoch, @started_at)`,
    ),
    migrationById: prep<[number], MigrationRow>('SELECT * FROM migrations WHERE id = ?'),
    migrationsOf: prep<[number], MigrationRow>('SELECT * FROM migrations WHERE process_id = ? ORDER BY id'),
    unfinishedMigrations: prep<[], MigrationRow>(
      `SELECT * FROM migrations WHERE state NOT IN ('done', 'failed', 'frozen') ORDER BY id`,
    ),
    frozenMigration: prep<[number], MigrationRow>(
      `SELECT * FROM migrations WHERE process_id = ? AND state = 'frozen' ORDER BY id DESC LIMIT 1`,
    ),
    setMigrationTo: prep<{ id: number; to_node: string }>('UPDATE migrations SET to_node = @to_node WHERE id = @id'),
    migrationRestoring: prep<{ process_id: number; from_epoch: number }, MigrationRow>(
      `SELECT * FROM migrations WHERE process_id = @process_id AND from_epoch = @from_epoch
       AND restored_on IS NOT NULL ORDER BY id DESC LIMIT 1`,
    ),
    setMigrationState: prep<{ id: number; state: MigrationState; steps: string }>(
      'UPDATE migrations SET state = @state, steps = @steps WHERE id = @id',
    ),
    setMigrationDump: prep<{ id: number; dump: string }>('UPDATE migrations SET dump = @dump WHERE id = @id'),
    setting: prep<[string], { value: string }>('SELECT value FROM settings WHERE name = ?'),
    setSetting: prep<{ name: string; value: string }>(
      'INSERT INTO settings (name, value) VALUES (@name, @value) ON CONFLICT(name) DO UPDATE SET value = @value',
    ),
    setMigrationBytes: prep<{ id: number; bytes: number }>('UPDATE migrations SET bytes = @bytes WHERE id = @id'),
    setMigrationStrategy: prep<{ id: number; strategy: string; strategy_reason: string }>(
      'UPDATE migrations SET strategy = @strategy, strategy_reason = @strategy_reason WHERE id = @id',
    ),
    setMigrationFrozenMs: prep<{ id: number; frozen_ms: number | null }>('UPDATE migrations SET frozen_ms = @frozen_ms WHERE id = @id'),
    setMigrationPages: prep<{ id: number; on_demand_bytes: number; background_bytes: number; arrived_at: number | null; released_at: number }>(
      `UPDATE migrations SET on_demand_bytes = @on_demand_bytes, background_bytes = @background_bytes,
       arrived_at = @arrived_at, released_at = @released_at WHERE id = @id`,
    ),
    setMigrationFailure: prep<{ id: number; code: string; reason: string }>(
      'UPDATE migrations SET code = @code, reason = @reason WHERE id = @id',
    ),
    endMigration: prep<{
      id: number; restored_on: string | null; frozen_ms: number | null; total_ms: number; ended_at: number;
    }>(
      `UPDATE migrations SET restored_on = @restored_on, frozen_ms = @frozen_ms, total_ms = @total_ms,
       ended_at = @ended_at WHERE id = @id`,
    ),

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
  };
}

export type Statements = ReturnType<typeof prepareAll>;

export interface Db {
  raw: Database.Database;
  q: Statements;
  /** runs fn in one transaction */
  tx<T>(fn: () => T): T;
  event(e: { processId?: number | null; node?: string | null; kind: string; message: string }): void;
  close(): void;
}

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
];

function hasColumn(raw: Database.Database, table: string, column: string): boolean {
  return (raw.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).some((c) => c.name === column);
}

/**
 * Columns renamed since: a database from before has the old name. A checkpoint's sha256 became
 * its MAC; the old rows keep their SHA-256 there, which no MAC matches: files from before carry
 * no MAC and are refused anyway.
 */
const RENAMED_COLUMNS: [table: string, from: string, to: string][] = [['checkpoints', 'sha256', 'mac']];

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

export function openDb(dataDir: string): Db {
  const raw = new Database(privateDbFile(dataDir));
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = NORMAL');
  raw.pragma('foreign_keys = ON');
  raw.exec(SCHEMA);
  renameOldColumns(raw);
  addMissingColumns(raw);
  const q = prepareAll(raw);
  return {
    raw,
    q,
    tx: <T>(fn: () => T): T => raw.transaction(fn)(),
    event: (e) => {
      q.insertEvent.run({
        at: Date.now(),
        process_id: e.processId ?? null,
        node: e.node ?? null,
        kind: e.kind,
        message: e.message,
      });
    },
    close: () => raw.close(),
  };
}

export function toNode(r: NodeRow): Node {
  return {
    name: r.name,
    url: r.url,
    state: r.state,
    lastSeen: r.last_seen,
    features: r.features ? (JSON.parse(r.features) as NodeFeatures) : null,
    load: r.load ? (JSON.parse(r.load) as NodeLoad) : null,
    drained: r.drained === 1,
  };
}

export function toProcess(r: ProcessRow): Process {
  return {
    id: r.id,
    owner: r.owner,
    argv: JSON.parse(r.argv) as string[],
    cwd: r.cwd,
    homeNode: r.home_node,
    node: r.node,
    pid: r.pid,
    origPid: r.orig_pid,
    nmigs: r.nmigs,
    state: r.state,
    exitCode: r.exit_code,
    exitSignal: r.exit_signal,
    failure: r.failure,
    createdAt: r.created_at,
    endedAt: r.ended_at,
    lastFrozenMs: r.last_frozen_ms,
    frz: r.frz,
    locked: r.locked === 1,
    checkpointFile: r.ckpt_file,
    checkpointMax: r.ckpt_max,
    checkpointEveryMs: r.ckpt_every_ms,
    checkpoints: r.ckpt_count,
    lastCheckpointAt: r.last_ckpt_at,
    recoverOnFailure: r.recover_on_failure === 1,
    needMemBytes: r.need_mem_bytes,
    lastFrozenForMs: r.last_frozen_for_ms,
    exitCheckpoint: r.exit_checkpoint,
    outputBytes: r.out_offset,
    attached: r.attached === 1,
  };
}

export function toCheckpoint(r: CheckpointRow): Checkpoint {
  return {
    id: r.id,
    processId: r.process_id,
    number: r.number,
    path: r.path,
    bytes: r.bytes,
    mac: r.mac,
    takenAt: r.taken_at,
    node: r.node,
    frozenMs: r.frozen_ms,
    files: JSON.parse(r.files) as Checkpoint['files'],
  };
}

export function toMigration(r: MigrationRow): Migration {
  return {
    id: r.id,
    processId: r.process_id,
    from: r.from_node,
    to: r.to_node,
    strategy: r.strategy,
    strategyReason: r.strategy_reason,
    state: r.state,
    steps: JSON.parse(r.steps) as Migration['steps'],
    frozenMs: r.frozen_ms,
    frozenForMs: r.state === 'done' ? freezeTimes(JSON.parse(r.steps) as Migration['steps']).frozenForMs : null,
    totalMs: r.total_ms,
    bytes: r.bytes,
    bytesBeforeResume: r.bytes,
    totalBytes: r.bytes === null ? null : r.bytes + (r.on_demand_bytes ?? 0) + (r.background_bytes ?? 0),
    onDemandBytes: r.on_demand_bytes,
    backgroundBytes: r.background_bytes,
    memoryArrivedAt: r.arrived_at,
    sourceReleasedAt: r.released_at,
    code: r.code,
    reason: r.reason,
    startedAt: r.started_at,
    endedAt: r.ended_at,
  };
}

export function toEvent(r: EventRow): Event {
  return { id: r.id, at: r.at, processId: r.process_id, node: r.node, kind: r.kind, message: r.message };
}
