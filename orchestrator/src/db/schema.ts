/**
 * The schema as SQL, one place: every table and index the orchestrator keeps. CREATE ... IF NOT
 * EXISTS leaves a database from before as it is: schema-migrations.ts mends the columns it lacks,
 * while an index added here is made in it too (on the columns every version had).
 */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS nodes (
  name TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  state TEXT NOT NULL,
  last_seen INTEGER,
  features TEXT,
  -- its CPU, kernel and CRIU (NodePlatform, JSON), as its agent reported them at start
  platform TEXT,
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
  -- why it died (death.ts): killed by its node's memory limit (1) or not, and the line that says so
  died_oom INTEGER NOT NULL DEFAULT 0,
  died_reason TEXT,
  -- OOM kills counted in the epochs a move or freeze ended, and the node of the last that counted one
  earlier_oom_kills INTEGER NOT NULL DEFAULT 0,
  earlier_oom_node TEXT,
  -- its own address (mosrun --ip, address-pool.ts); the index below gives it to one live process at a time
  address TEXT,
  -- why automatic checkpoints (-A) are paused: the next would pass the owner's quota (limits.ts); NULL when not
  auto_ckpt_paused TEXT,
  created_at INTEGER NOT NULL,
  ended_at INTEGER,
  last_stopped_ms INTEGER,
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
  -- mosrun --compress / --no-compress: 1 or 0; NULL: the cluster's compress.checkpoints
  ckpt_compress INTEGER,
  ckpt_count INTEGER NOT NULL DEFAULT 0,
  last_ckpt_at INTEGER,
  -- mosrun --recover-on-failure: recovered from its latest checkpoint if its node is lost
  recover_on_failure INTEGER NOT NULL DEFAULT 0,
  -- memory it said (its control file needmem) it is about to need, beyond its resident memory
  need_mem_bytes INTEGER NOT NULL DEFAULT 0,
  -- how long it stayed frozen before its last move, a continue (not in last_stopped_ms)
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
-- the list's filters (db/queries/pages.ts), each ending in id: a page is a range of it
CREATE INDEX IF NOT EXISTS processes_owner_id ON processes(owner, id);
CREATE INDEX IF NOT EXISTS processes_state_id ON processes(state, id);
CREATE INDEX IF NOT EXISTS processes_node_id ON processes(node, id);
CREATE INDEX IF NOT EXISTS processes_created ON processes(created_at);
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
  stopped_ms INTEGER,
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
CREATE INDEX IF NOT EXISTS migrations_state_id ON migrations(state, id);
CREATE INDEX IF NOT EXISTS migrations_from_id ON migrations(from_node, id);
CREATE INDEX IF NOT EXISTS migrations_to_id ON migrations(to_node, id);
CREATE INDEX IF NOT EXISTS migrations_started ON migrations(started_at);
-- each checkpoint file, as written and verified; a file recycled by rotation replaces its row
CREATE TABLE IF NOT EXISTS checkpoints (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  process_id INTEGER NOT NULL REFERENCES processes(id),
  number INTEGER NOT NULL,
  path TEXT NOT NULL UNIQUE,
  bytes INTEGER NOT NULL,
  -- the file's id (hex): the SHA-256 of its sealed header (agent/src/at-rest.ts)
  mac TEXT NOT NULL,
  taken_at INTEGER NOT NULL,
  node TEXT NOT NULL,
  stopped_ms INTEGER NOT NULL,
  files TEXT NOT NULL,
  -- what the file packs before compression; NULL for a checkpoint from before compression
  plain_bytes INTEGER
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
CREATE INDEX IF NOT EXISTS events_node_id ON events(node, id);
CREATE INDEX IF NOT EXISTS events_kind_id ON events(kind, id);
CREATE INDEX IF NOT EXISTS events_at ON events(at);
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
