/**
 * Checkpoints (MOSIX mosrun -C/-N/-A, mosmigrate checkpoint|checkstop|exit) and recovery from
 * them (mosrun -R/-I/-O). Checkpoint files live in the cluster's checkpoint directory, each
 * user's under their own name: the agents, which run as root, write and read nowhere else.
 */
import { isAbsolute, join, normalize, relative } from 'node:path';
import {
  GodwitError,
  type Checkpoint,
  type CheckpointInfo,
  type CheckpointPolicy,
  type CheckpointRequest,
  type Process,
  type RecoverRequest,
} from '@godwit/schemas';
import type { User } from './auth.js';
import type { Ctx } from './context.js';
import { type ProcessRow, toCheckpoint, toProcess } from './db.js';
import { asGodwitError, type Migrator } from './migration.js';
import type { OutputRelay } from './output-relay.js';
import { place } from './placement.js';

/** how often automatic checkpoints (-A) are looked for */
const AUTO_TICK_MS = 500;
const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

export interface Checkpointer {
  /** resolves a user's FILE (mosrun -C, -R, -I) to its absolute path in their checkpoint directory */
  resolveFile(user: string, file: string): string;
  /** the columns a new process gets from mosrun -C/-N/-A */
  policyColumns(user: string, policy: CheckpointPolicy | undefined): { ckpt_file: string | null; ckpt_max: number | null; ckpt_every_ms: number | null };
  take(proc: ProcessRow, then: NonNullable<CheckpointRequest['then']>): Promise<Checkpoint>;
  info(user: User, file: string): Promise<CheckpointInfo>;
  recover(user: User, req: RecoverRequest): Promise<Process>;
  /** brings a process of a lost node back from its latest checkpoint, on another node */
  recoverLost(proc: ProcessRow, avoid: string): Promise<void>;
  /** starts taking automatic checkpoints (-A) when they are due */
  start(): void;
  stop(): void;
}

export function createCheckpointer(ctx: Ctx, migrator: Migrator, relay: OutputRelay): Checkpointer {
  const { db, bus, nodes, config, log } = ctx;
  const root = config.checkpointDir;

  function resolveFile(user: string, file: string): string {
    const base = join(root, user);
    const abs = isAbsolute(file) ? normalize(file) : join(base, file);
    const rel = relative(base, abs);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
      throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `checkpoint files of ${user} are kept in ${base}/: name one there (for example myjob), not ${file}`);
    }
    if (!rel.split('/').every((s) => SEGMENT.test(s))) {
      throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `checkpoint file name ${file} may hold only letters, digits, '.', '_' and '-' (and '/' between names)`);
    }
    return abs;
  }

  /** the agents' name for a file of the checkpoint directory */
  const rel = (abs: string) => relative(root, abs);

  function online(): string[] {
    return nodes.names.filter((n) => nodes.isOnline(n));
  }

  /** checkpoints being taken: one asked for meanwhile waits for it rather than failing */
  const inFlight = new Map<number, Promise<unknown>>();

  async function take(proc: ProcessRow, then: NonNullable<CheckpointRequest['then']>): Promise<Checkpoint> {
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
    const taking = migrator.exclusive(proc.id, async () => {
      let taken;
      try {
        taken = await ctx.agent(proc.node).checkpoint(proc.id, { path: rel(path), then: then === 'exit' ? 'exit' : 'run' });
      } catch (err) {
        const e = asGodwitError(err);
        db.event({ processId: proc.id, node: proc.node, kind: 'checkpoint-failed', message: `checkpoint ${number} of process ${proc.id} failed: ${e.message}` });
        throw e;
      }
      return db.tx(() => {
        db.q.upsertCheckpoint.run({
          process_id: proc.id, number, path, bytes: taken.bytes, sha256: taken.sha256, taken_at: taken.takenAt, node: proc.node,
          frozen_ms: taken.frozenMs, files: JSON.stringify(taken.files),
        });
        db.q.setCheckpointTaken.run({ id: proc.id, ckpt_file: base, ckpt_count: number, last_ckpt_at: taken.takenAt });
        db.event({
          processId: proc.id,
          node: proc.node,
          kind: 'checkpoint',
          message: `process ${proc.id} checkpointed to ${path} (checkpoint ${number}, ${taken.bytes} bytes, stopped ${taken.frozenMs} ms)` +
            (then === 'exit' ? '; it ends now, as asked: `mosrun -R ' + path + '` brings it back' : ''),
        });
        return toCheckpoint(db.q.checkpointByPath.get(path)!);
      });
    });
    const settled = taking.catch(() => undefined).finally(() => inFlight.delete(proc.id));
    inFlight.set(proc.id, settled);
    const checkpoint = await taking;
    bus.emit('process', proc.id);
    if (then === 'stop') await migrator.freeze(db.q.processById.get(proc.id)!, 'M');
    return checkpoint;
  }

  /** an online node to look at a checkpoint from: the user's home node if it is up */
  function reader(): string {
    const n = online()[0];
    if (!n) throw new GodwitError('GODWIT_ERR_NODE_OFFLINE', 'no node is online to read the checkpoint');
    return n;
  }

  async function stage(processId: number, node: string, path: string, req: Pick<RecoverRequest, 'remap' | 'acceptChanged'>) {
    const rid = Number(db.q.insertRecovery.run({ process_id: processId, path, node, started_at: Date.now() }).lastInsertRowid);
    const staged = await ctx.agent(node).stageCheckpoint({
      path: rel(path),
      ...(db.q.checkpointByPath.get(path) ? { sha256: db.q.checkpointByPath.get(path)!.sha256 } : {}),
      migrationId: rid,
      processId,
      remap: req.remap ?? {},
      acceptChanged: req.acceptChanged === true,
    });
    return { rid, staged };
  }

  function describeFiles(staged: { restoredFiles: string[]; substituted: string[] }): string {
    return [
      staged.restoredFiles.length ? `files restored from the checkpoint: ${staged.restoredFiles.join(', ')}` : '',
      staged.substituted.length ? `files taken as they are now or remapped: ${staged.substituted.join(', ')}` : '',
    ].filter(Boolean).join('; ');
  }

  async function recover(user: User, req: RecoverRequest): Promise<Process> {
    const path = resolveFile(user.name, req.file);
    if (req.node) nodes.require(req.node);
    const info = await ctx.agent(reader()).checkpointInfo(rel(path));
    const home = nodes.require(req.homeNode ?? req.node ?? nodes.names[0]!).name;
    const target = place(nodes.list().filter((n) => nodes.isOnline(n.name)), { home, ...(req.node ? { node: req.node } : {}) });
    const id = Number(
      db.q.insertProcess.run({
        owner: user.name, argv: JSON.stringify(info.argv), cwd: info.cwd, home_node: home, node: target, created_at: Date.now(), locked: 0,
        ...policyColumns(user.name, req.checkpoint), recover_on_failure: req.recoverOnFailure === true ? 1 : 0,
      }).lastInsertRowid,
    );
    let rid: number | undefined;
    try {
      const s = await stage(id, target, path, req);
      rid = s.rid;
      const restored = await ctx.agent(target).restore(id, { migrationId: s.rid, epoch: 0, inodes: s.staged.inodes });
      db.tx(() => {
        db.q.setLaunched.run({ id, pid: restored.pid });
        const files = describeFiles(s.staged);
        db.event({
          processId: id,
          node: target,
          kind: 'recovered',
          message: `process ${id} recovered on ${target} as PID ${restored.pid} from ${path} (process ${info.processId}, checkpointed on ${info.node} at ${new Date(info.takenAt).toISOString()})${files ? `; ${files}` : ''}`,
        });
      });
    } catch (err) {
      const e = asGodwitError(err);
      db.tx(() => {
        db.q.endProcess.run({ id, state: 'exited', exit_code: null, exit_signal: null, ended_at: Date.now() });
        db.event({ processId: id, node: target, kind: 'recover-failed', message: `recovering ${path} on ${target} failed: ${e.message}` });
      });
      throw new GodwitError(e.code, e.message, { ...e.details, processId: id });
    } finally {
      if (rid !== undefined) ctx.agent(target).deleteImages(rid).catch(() => undefined);
    }
    relay.start(id);
    return toProcess(db.q.processById.get(id)!);
  }

  async function recoverLost(proc: ProcessRow, avoid: string): Promise<void> {
    const latest = db.q.latestCheckpoint.get(proc.id);
    const lostAt = new Date().toISOString();
    const markLost = (why: string) =>
      db.tx(() => {
        db.q.endProcess.run({ id: proc.id, state: 'lost', exit_code: null, exit_signal: null, ended_at: Date.now() });
        db.event({ processId: proc.id, node: avoid, kind: 'lost', message: `process ${proc.id} is lost with node ${avoid} (${lostAt}): ${why}` });
      });
    if (!proc.recover_on_failure || !latest) {
      markLost(
        latest
          ? `its last checkpoint (${latest.path}, ${new Date(latest.taken_at).toISOString()}) can bring it back: mosrun -R ${latest.path}`
          : 'it has no checkpoint',
      );
      bus.emit('process', proc.id);
      return;
    }
    const candidates = nodes.list().filter((n) => n.name !== avoid && nodes.isOnline(n.name) && !n.drained);
    let rid: number | undefined;
    let target: string | undefined;
    try {
      target = place(candidates, { home: candidates.some((n) => n.name === proc.home_node) ? proc.home_node : candidates[0]?.name ?? proc.home_node });
      const epoch = proc.epoch + 1;
      const s = await stage(proc.id, target, latest.path, { acceptChanged: false });
      rid = s.rid;
      const restored = await ctx.agent(target).restore(proc.id, { migrationId: s.rid, epoch, inodes: s.staged.inodes });
      const files = describeFiles(s.staged);
      db.tx(() => {
        db.q.setRecovered.run({ id: proc.id, node: target!, pid: restored.pid, epoch });
        // the lost node's run never ends its output: the relay goes on with the recovered run
        // (its puller, failing to reach the lost node, reads where it is at again)
        db.q.setOutputEpoch.run({ id: proc.id, out_node: target!, out_epoch: epoch });
        db.event({
          processId: proc.id,
          node: target!,
          kind: 'recovered',
          message: `process ${proc.id} was lost with node ${avoid} and recovered on ${target} as PID ${restored.pid} from its checkpoint ${latest.number} (${latest.path}, taken ${new Date(latest.taken_at).toISOString()}): it goes on from there${files ? `; ${files}` : ''}`,
        });
      });
    } catch (err) {
      markLost(`recovering it from ${latest.path}${target ? ` on ${target}` : ''} failed: ${asGodwitError(err).message}`);
    } finally {
      if (rid !== undefined && target) ctx.agent(target).deleteImages(rid).catch(() => undefined);
    }
    bus.emit('process', proc.id);
  }

  function policyColumns(user: string, policy: CheckpointPolicy | undefined) {
    return {
      ckpt_file: policy ? resolveFile(user, policy.file) : null,
      ckpt_max: policy?.max ?? null,
      ckpt_every_ms: policy?.everyMinutes !== undefined ? Math.max(1000, Math.round(policy.everyMinutes * 60_000)) : null,
    };
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
      take(proc, 'run')
        .then(() => failedAt.delete(proc.id))
        .catch((err: unknown) => {
          failedAt.set(proc.id, Date.now());
          log.warn(`automatic checkpoint of process ${proc.id}: ${asGodwitError(err).message}`);
        })
        .finally(() => busy.delete(proc.id));
    }
  };

  return {
    resolveFile,
    policyColumns,
    take,
    info: async (user, file) => ctx.agent(reader()).checkpointInfo(rel(resolveFile(user.name, file))),
    recover,
    recoverLost,
    start: () => {
      timer ??= setInterval(tick, AUTO_TICK_MS);
      timer.unref();
    },
    stop: () => clearInterval(timer),
  };
}
