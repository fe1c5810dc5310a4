/**
 * Checkpoints (MOSIX mosmigrate checkpoint|checkstop|exit, mosrun -C/-N/-A): taken by the agent
 * where the process runs, each recorded in SQLite once its file is safe; the automatic ones
 * when they are due, after an orchestrator restart too. An automatic one whose size (as well as
 * it can be told) would pass its owner's quota is not dumped: the process's automatic checkpoints
 * are paused, said once (an event, and the process's autoCheckpointsPaused), and resume once one fits.
 */
import { GodwitError, type Checkpoint, type CheckpointRequest, toGodwitError } from '@godwit/schemas';
import type { CheckpointFiles } from './checkpoint-files.js';
import type { Ctx } from './context.js';
import { type ProcessRow, toCheckpoint } from './db/index.js';
import { autoCheckpointsPausedReason, checkpointQuotaError, checkpointRoom, nextCheckpointBytes } from './limits.js';
import type { Migrator } from './migration/migrator.js';

/** how often automatic checkpoints (-A) are looked for */
const AUTO_TICK_MS = 500;

export interface Checkpointer {
  /** auto: an automatic checkpoint (-A), paused rather than dumped when it would not fit */
  /** auto: one of -A's; compress: as asked, else as the process's -C policy, else the cluster's */
  take(proc: ProcessRow, then: NonNullable<CheckpointRequest['then']>, opts?: { auto?: boolean; compress?: boolean | undefined }): Promise<Checkpoint>;
  /** starts taking automatic checkpoints (-A) when they are due */
  start(): void;
  stop(): void;
}

export function createCheckpointer(ctx: Ctx, migrator: Migrator, { resolveFile, rel }: CheckpointFiles): Checkpointer {
  const { db, bus, nodes, log } = ctx;

  /** checkpoints being taken: one asked for meanwhile waits for it rather than failing */
  const inFlight = new Map<number, Promise<unknown>>();
  /** what the agent said a refused checkpoint needed, per process: the next one's size until one is taken */
  const refusedNeeding = new Map<number, number>();

  /** records once why the process's automatic checkpoints are paused; the error its tick gets */
  function pauseAuto(proc: ProcessRow, reason: string): GodwitError {
    const was = db.q.processById.get(proc.id)?.auto_ckpt_paused;
    if (was !== reason) {
      db.tx(() => {
        db.q.setAutoCheckpointPaused.run({ id: proc.id, reason });
        // its use or the estimate may change while paused: the reason is kept current, the pause told once
        if (was === null) db.event({ processId: proc.id, node: proc.node, kind: 'auto-checkpoints-paused', message: `automatic checkpoints of process ${proc.id} paused: ${reason}` });
      });
      bus.emit('process', proc.id);
    }
    return new GodwitError('GODWIT_ERR_CHECKPOINT_QUOTA', `automatic checkpoints of process ${proc.id} paused: ${reason}`, { processId: proc.id });
  }

  async function take(proc: ProcessRow, then: NonNullable<CheckpointRequest['then']>, { auto = false, compress }: { auto?: boolean; compress?: boolean | undefined } = {}): Promise<Checkpoint> {
    while (inFlight.has(proc.id)) {
      await inFlight.get(proc.id);
      proc = db.q.processById.get(proc.id)!;
    }
    migrator.requireRunning(proc, 'can be checkpointed');
    if (!nodes.isOnline(proc.node)) {
      throw new GodwitError('GODWIT_ERR_NODE_OFFLINE', `node ${proc.node} is offline: process ${proc.id} cannot be checkpointed now`, { node: proc.node });
    }
    const base = proc.ckpt_file ?? resolveFile(proc.owner, `ckpt.${proc.orig_pid ?? proc.id}`);
    const number = proc.ckpt_count + 1;
    // MOSIX's -N: extensions .1 to .MAX, then recycled, the oldest replaced first
    const path = `${base}.${proc.ckpt_max ? ((number - 1) % proc.ckpt_max) + 1 : number}`;
    const quota = ctx.config.limits.checkpointBytesPerUser;
    const taking = migrator.exclusive(proc.id, async () => {
      // every checkpoint (-C, -A, a control file's, the API's) passes here: none grows a user's past the quota
      const used = db.q.checkpointBytesOf.get(proc.owner)!.bytes;
      const room = checkpointRoom(quota, used, db.q.checkpointByPath.get(path)?.bytes ?? 0);
      const refused = (needed?: number) => {
        const e = checkpointQuotaError(proc.owner, used, quota, proc.id, needed);
        db.event({ processId: proc.id, node: proc.node, kind: 'checkpoint-refused', message: e.message });
        return e;
      };
      if (auto) {
        const estimate = nextCheckpointBytes({ refusedNeeding: refusedNeeding.get(proc.id), lastBytes: db.q.latestCheckpoint.get(proc.id)?.bytes });
        if (room <= 0 || (estimate !== undefined && estimate > room)) throw pauseAuto(proc, autoCheckpointsPausedReason(proc.owner, used, quota, room <= 0 ? undefined : estimate));
      }
      if (room <= 0) throw refused();
      let taken;
      // before the agent ends it: the exit its followers see then names the checkpoint
      if (then === 'exit') db.q.setExitCheckpoint.run({ id: proc.id, path });
      try {
        taken = await ctx.agent(proc.node).checkpoint(proc.id, { path: rel(path), then: then === 'exit' ? 'exit' : 'run', maxBytes: room, compress: compress ?? (proc.ckpt_compress === null ? ctx.config.compress.checkpoints : proc.ckpt_compress === 1) });
      } catch (err) {
        const e = toGodwitError(err);
        if (e.code === 'GODWIT_ERR_CHECKPOINT_QUOTA') {
          if (then === 'exit') db.q.setExitCheckpoint.run({ id: proc.id, path: null });
          const needed = typeof e.details?.['bytes'] === 'number' ? e.details['bytes'] : undefined;
          const error = refused(needed);
          if (auto) {
            // the estimate was short: the dump tells the size, and no other is dumped until that fits
            refusedNeeding.set(proc.id, needed ?? room + 1);
            pauseAuto(proc, autoCheckpointsPausedReason(proc.owner, used, quota, needed));
          }
          throw error;
        }
        if (then === 'exit') db.q.setExitCheckpoint.run({ id: proc.id, path: null });
        db.event({ processId: proc.id, node: proc.node, kind: 'checkpoint-failed', message: `checkpoint ${number} of process ${proc.id} failed: ${e.message}` });
        throw e;
      }
      refusedNeeding.delete(proc.id);
      const paused = db.q.processById.get(proc.id)?.auto_ckpt_paused ?? null;
      return db.tx(() => {
        if (paused !== null) {
          db.q.setAutoCheckpointPaused.run({ id: proc.id, reason: null });
          db.event({ processId: proc.id, node: proc.node, kind: 'auto-checkpoints-resumed', message: `automatic checkpoints of process ${proc.id} resume: checkpoint ${number} fit the quota` });
        }
        db.q.upsertCheckpoint.run({
          process_id: proc.id, number, path, bytes: taken.bytes, mac: taken.mac, taken_at: taken.takenAt, node: proc.node,
          stopped_ms: taken.stoppedMs, files: JSON.stringify(taken.files), plain_bytes: taken.plainBytes,
        });
        db.q.setCheckpointTaken.run({ id: proc.id, ckpt_file: base, ckpt_count: number, last_ckpt_at: taken.takenAt });
        db.event({
          processId: proc.id,
          node: proc.node,
          kind: 'checkpoint',
          message: `process ${proc.id} checkpointed to ${path} (checkpoint ${number}, ${taken.bytes} bytes, stopped ${taken.stoppedMs} ms)` +
            (then === 'exit' ? '; it ends now, as asked: `mosrun -R ' + path + '` brings it back' : ''),
        });
        return toCheckpoint(db.q.checkpointByPath.get(path)!);
      });
    });
    // whoever waits for the checkpoints in flight needs only that this one ended; its caller gets the failure
    const settled = taking.catch(() => undefined).finally(() => inFlight.delete(proc.id));
    inFlight.set(proc.id, settled);
    const checkpoint = await taking;
    bus.emit('process', proc.id);
    if (then === 'stop') await migrator.freeze(db.q.processById.get(proc.id)!, 'M');
    return checkpoint;
  }

  const busy = new Set<number>();
  /** when an automatic checkpoint last failed: the next try waits a whole interval */
  const failedAt = new Map<number, number>();
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    const now = Date.now();
    for (const proc of db.q.checkpointDue.all(now)) {
      if (busy.has(proc.id) || !nodes.isOnline(proc.node) || now - (failedAt.get(proc.id) ?? 0) < proc.ckpt_every_ms!) continue;
      busy.add(proc.id);
      take(proc, 'run', { auto: true })
        .then(() => failedAt.delete(proc.id))
        .catch((err: unknown) => {
          // paused: said once, and looked at again at each tick (no dump), so that it resumes as soon as it fits
          if ((db.q.processById.get(proc.id)?.auto_ckpt_paused ?? null) !== null) return;
          failedAt.set(proc.id, Date.now());
          log.warn(`automatic checkpoint of process ${proc.id}: ${toGodwitError(err).message}`);
        })
        .finally(() => busy.delete(proc.id));
    }
  };

  return {
    take,
    start: () => {
      timer ??= setInterval(tick, AUTO_TICK_MS);
      timer.unref();
    },
    stop: () => clearInterval(timer),
  };
}
