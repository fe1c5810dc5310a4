/** Rows into the API's shapes (schemas/): JSON columns parsed, 0/1 columns made booleans. */
import type { Checkpoint, Died, Event, Migration, Node, NodeFeatures, NodeLoad, NodePlatform, Process } from '@godwit/schemas';
import { freezeTimes } from '../freeze-times.js';
import { howDied } from '../death.js';
import type { CheckpointRow, DumpRecord, EventRow, MigrationRow, NodeRow, ProcessRow } from './rows.js';

export function toNode(r: NodeRow): Node {
  return {
    name: r.name,
    url: r.url,
    state: r.state,
    lastSeen: r.last_seen,
    features: r.features ? (JSON.parse(r.features) as NodeFeatures) : null,
    platform: r.platform ? (JSON.parse(r.platform) as NodePlatform) : null,
    load: r.load ? (JSON.parse(r.load) as NodeLoad) : null,
    drained: r.drained === 1,
  };
}

/** why it died, as recorded (none when it ended after its checkpoint, as asked); a row from before died_reason says only its signal */
export function diedOf(r: Pick<ProcessRow, 'exit_code' | 'exit_signal' | 'died_oom' | 'died_reason' | 'node' | 'exit_checkpoint'>): Died | null {
  if (r.exit_checkpoint !== null) return null;
  if (r.died_reason === null) return howDied({ code: r.exit_code, signal: r.exit_signal }, r.node);
  return { ...(r.exit_signal !== null ? { signal: r.exit_signal } : {}), oomKilled: r.died_oom === 1, reason: r.died_reason };
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
    died: diedOf(r),
    failure: r.failure,
    createdAt: r.created_at,
    endedAt: r.ended_at,
    lastStoppedMs: r.last_stopped_ms,
    lastFrozenMs: r.last_stopped_ms,
    frz: r.frz,
    locked: r.locked === 1,
    checkpointFile: r.ckpt_file,
    checkpointMax: r.ckpt_max,
    checkpointEveryMs: r.ckpt_every_ms,
    checkpointCompress: r.ckpt_compress === null ? null : r.ckpt_compress === 1,
    checkpoints: r.ckpt_count,
    lastCheckpointAt: r.last_ckpt_at,
    recoverOnFailure: r.recover_on_failure === 1,
    needMemBytes: r.need_mem_bytes,
    lastFrozenForMs: r.last_frozen_for_ms,
    exitCheckpoint: r.exit_checkpoint,
    outputBytes: r.out_offset,
    attached: r.attached === 1,
    autoCheckpointsPaused: r.auto_ckpt_paused,
    address: r.address,
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
    stoppedMs: r.stopped_ms,
    frozenMs: r.stopped_ms,
    files: JSON.parse(r.files) as Checkpoint['files'],
    plainBytes: r.plain_bytes ?? r.bytes,
    compressionRatio: Math.round(((r.plain_bytes ?? r.bytes) / Math.max(1, r.bytes)) * 100) / 100,
  };
}

export function toMigration(r: MigrationRow): Migration {
  const steps = JSON.parse(r.steps) as Migration['steps'];
  return {
    id: r.id,
    processId: r.process_id,
    from: r.from_node,
    to: r.to_node,
    strategy: r.strategy,
    strategyReason: r.strategy_reason,
    state: r.state,
    steps,
    stoppedMs: r.stopped_ms,
    frozenMs: r.stopped_ms,
    frozenForMs: r.state === 'done' ? freezeTimes(steps).frozenForMs : null,
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

/**
 * A migration's recorded dump (migrations.dump). Recorded before the time CRIU keeps a program
 * stopped was renamed, it says frozenAt: a frozen program's record may be that old.
 */
export function toDumpRecord(json: string): DumpRecord {
  const { frozenAt, ...rest } = JSON.parse(json) as DumpRecord & { frozenAt?: number | null };
  return { ...rest, stoppedAt: rest.stoppedAt ?? frozenAt ?? null };
}
