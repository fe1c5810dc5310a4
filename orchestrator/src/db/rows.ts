/**
 * Rows as SQLite returns them, one interface per table, column names as in schema.ts. The API's
 * shapes are made from them in mappers.ts.
 */
import type { CarriedPlace, FreezeReason, MigrationState, ProcessState, StreamInodes } from '@godwit/schemas';

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
  died_oom: number;
  died_reason: string | null;
  earlier_oom_kills: number;
  earlier_oom_node: string | null;
  auto_ckpt_paused: string | null;
  address: string | null;
  created_at: number;
  ended_at: number | null;
  last_stopped_ms: number | null;
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
  ckpt_compress: number | null;
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
  stopped_ms: number;
  files: string;
  plain_bytes: number | null;
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
  stopped_ms: number | null;
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

export interface NodeRow {
  name: string;
  url: string;
  state: 'online' | 'offline';
  last_seen: number | null;
  features: string | null;
  platform: string | null;
  load: string | null;
  drained: number;
}

export interface EventRow {
  id: number;
  at: number;
  process_id: number | null;
  node: string | null;
  kind: string;
  message: string;
}

/** What dump returned, kept (in migrations.dump, as JSON) so a restore, here or after a restart, can use it. */
export interface DumpRecord {
  /** null when the dump's answer was never recorded (the orchestrator stopped first) */
  stoppedAt: number | null;
  inodes: StreamInodes;
  bytes: number;
  /** the pages went straight to the destination; the source holds the program stopped */
  direct?: boolean;
  /** the pages stay at the source until the destination pulls them, after the restore */
  lazy?: boolean;
  /** the node-local files the images carry (a frozen program's, checked before it continues elsewhere) */
  carried?: CarriedPlace[];
}
