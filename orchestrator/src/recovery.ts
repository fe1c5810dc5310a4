/**
 * Recovery from checkpoints: mosrun -R (a new process, on any node, with -O and
 * --accept-changed), mosrun -I (what a checkpoint holds), and the processes of a lost node
 * brought back from their latest checkpoint, the one way a process restarts from the past. Only
 * files in the checkpoints table are used, each checked by the agent against its recorded MAC.
 */
import { GodwitError, type CheckpointInfo, type Process, type RecoverRequest, toGodwitError } from '@godwit/schemas';
import type { User } from './auth.js';
import type { CheckpointFiles } from './checkpoint-files.js';
import { restoreStreams } from './closed-output.js';
import { cpuEndOf, cpuFits } from './cpu-compat.js';
import { accountOf } from './config.js';
import type { Ctx } from './context.js';
import { type CheckpointRow, type ProcessRow, toCheckpoint, toProcess } from './db/index.js';
import { requireProcessRoom } from './limits.js';
import type { OutputRelay } from './output-relay.js';
import { place } from './placement.js';
import { launchFailed, processLaunched, processLost } from './process-life.js';

export interface Recovery {
  info(user: User, file: string): Promise<CheckpointInfo>;
  recover(user: User, req: RecoverRequest): Promise<Process>;
  /** brings a process of a lost node back from its latest checkpoint, on another node */
  recoverLost(proc: ProcessRow, avoid: string): Promise<void>;
}

export function createRecovery(ctx: Ctx, relay: OutputRelay, { resolveFile, rel, policyColumns }: CheckpointFiles): Recovery {
  const { db, bus, nodes } = ctx;

  /** an online node to read a checkpoint from (the checkpoint directory is the same on all) */
  function reader(): string {
    const n = nodes.names.find((name) => nodes.isOnline(name));
    if (!n) throw new GodwitError('GODWIT_ERR_NODE_OFFLINE', 'no node is online to read the checkpoint');
    return n;
  }

  /**
   * The record of a checkpoint file: a file godwit has none of is neither recovered nor described
   * (what the file itself says is trusted only once its seal, checked against the record, holds).
   */
  function recordOf(path: string): CheckpointRow {
    const record = db.q.checkpointByPath.get(path);
    if (!record) {
      throw new GodwitError(
        'GODWIT_ERR_BAD_CHECKPOINT',
        `godwit has no record of ${path}: only a checkpoint this cluster took, and still lists (GET /v1/processes/ID/checkpoints), can be recovered or described`,
      );
    }
    return record;
  }

  /**
   * MOSIX mosrun -I, from the records: whose checkpoint it is, and the files it had open, with
   * their sizes then and now, as the checkpoint's owner can see them
   */
  async function describe(path: string): Promise<CheckpointInfo> {
    const c = toCheckpoint(recordOf(path));
    const proc = toProcess(db.q.processById.get(c.processId)!);
    const account = accountOf(ctx.config, proc.owner);
    // a carried file's place is node-local: it has no size "now" but the one it comes back with
    const looked = c.files.filter((f) => !f.carried);
    const { sizes } = await ctx.agent(reader()).fileSizes({ account, paths: looked.map((f) => f.path) });
    const sizeNow = new Map(looked.map((f, i) => [f, sizes[i] ?? null]));
    return {
      path, processId: c.processId, argv: proc.argv, cwd: proc.cwd, takenAt: c.takenAt, node: c.node,
      bytes: c.bytes, plainBytes: c.plainBytes, compressionRatio: c.compressionRatio,
      files: c.files.map((f) => ({ ...f, sizeNow: f.carried ? f.size : (sizeNow.get(f) ?? null) })),
    };
  }

  async function stage(processId: number, account: string, node: string, record: CheckpointRow, req: Pick<RecoverRequest, 'remap' | 'acceptChanged'>) {
    const { path } = record;
    const rid = Number(db.q.insertRecovery.run({ process_id: processId, path, node, started_at: Date.now() }).lastInsertRowid);
    const staged = await ctx.agent(node).stageCheckpoint({
      path: rel(path),
      account,
      mac: record.mac,
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
    const record = recordOf(path);
    const from = toProcess(db.q.processById.get(record.process_id)!);
    const home = nodes.require(req.homeNode ?? req.node ?? nodes.names[0]!).name;
    const cpu = { program: `checkpoint ${record.path} (taken on ${record.node})`, from: cpuEndOf(nodes.list(), record.node) };
    const target = place(nodes.list().filter((n) => nodes.isOnline(n.name)), { home, ...(req.node ? { node: req.node } : {}), cpu });
    requireProcessRoom(user.name, db.q.liveProcessesOf.get(user.name)!.n, ctx.config.limits.liveProcessesPerUser);
    const id = Number(
      db.q.insertProcess.run({
        owner: user.name, argv: JSON.stringify(from.argv), cwd: from.cwd, home_node: home, node: target, created_at: Date.now(), locked: 0,
        ...policyColumns(user.name, req.checkpoint), recover_on_failure: req.recoverOnFailure === true ? 1 : 0,
      }).lastInsertRowid,
    );
    if (req.attached) db.q.setAttached.run({ id, attached: 1 });
    let rid: number | undefined;
    try {
      const account = accountOf(ctx.config, user.name);
      const s = await stage(id, account, target, record, req);
      rid = s.rid;
      const restored = await ctx.agent(target).restore(id, { migrationId: s.rid, account, epoch: 0, inodes: s.staged.inodes });
      const files = describeFiles(s.staged);
      processLaunched(db, restored.pid, {
        id,
        node: target,
        kind: 'recovered',
        message: `process ${id} recovered on ${target} as PID ${restored.pid} from ${path} (process ${record.process_id}, checkpointed on ${record.node} at ${new Date(record.taken_at).toISOString()})${files ? `; ${files}` : ''}`,
      });
    } catch (err) {
      const e = toGodwitError(err);
      launchFailed(db, e.message, { id, node: target, kind: 'recover-failed', message: `recovering ${path} on ${target} failed: ${e.message}` });
      throw new GodwitError(e.code, e.message, { ...e.details, processId: id });
    } finally {
      if (rid !== undefined) dropStaged(target, rid);
    }
    relay.start(id);
    return toProcess(db.q.processById.get(id)!);
  }

  /** deletes the images a recovery staged on `node`, logging what could not be */
  function dropStaged(node: string, rid: number): void {
    ctx.agent(node).deleteImages(rid).catch((err: unknown) => {
      ctx.log.warn({ err, node }, `could not delete the images staged on ${node} for recovery ${rid}`);
    });
  }

  /** a later run of the process on another node: a recovery the orchestrator made but stopped before recording */
  async function laterRun(proc: ProcessRow, avoid: string): Promise<{ node: string; pid: number | null; epoch: number } | undefined> {
    for (const node of nodes.names.filter((n) => n !== avoid && nodes.isOnline(n))) {
      const procs = await ctx.agent(node).list().catch((err: unknown) => {
        ctx.log.warn({ err, node }, `could not ask ${node} whether it runs a later run of process ${proc.id}`);
        return [];
      });
      const found = procs.find((p) => p.id === proc.id && p.epoch > proc.epoch && p.state === 'running');
      if (found) return { node, pid: found.pid, epoch: found.epoch };
    }
    return undefined;
  }

  function recorded(proc: ProcessRow, at: { node: string; pid: number | null; epoch: number }, message: string): void {
    db.tx(() => {
      db.q.setRecovered.run({ id: proc.id, node: at.node, pid: at.pid, epoch: at.epoch });
      // the lost node's run never ends its output: the relay goes on with the recovered run
      // (its puller, failing to reach the lost node, reads where it is at again)
      db.q.setOutputEpoch.run({ id: proc.id, out_node: at.node, out_epoch: at.epoch });
      db.event({ processId: proc.id, node: at.node, kind: 'recovered', message });
    });
  }

  async function recoverLost(proc: ProcessRow, avoid: string): Promise<void> {
    const adopted = await laterRun(proc, avoid);
    if (adopted) {
      recorded(proc, adopted, `process ${proc.id} was lost with node ${avoid}; its recovery on ${adopted.node} (run ${adopted.epoch}, PID ${adopted.pid}), made before the orchestrator stopped, runs on`);
      bus.emit('process', proc.id);
      return;
    }
    const latest = db.q.latestCheckpoint.get(proc.id);
    const lostAt = new Date().toISOString();
    const markLost = (why: string) => processLost(db, { id: proc.id, node: avoid, message: `process ${proc.id} is lost with node ${avoid} (${lostAt}): ${why}` });
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
      const cpu = { program: `process ${proc.id}'s checkpoint (taken on ${latest.node})`, from: cpuEndOf(nodes.list(), latest.node) };
      const fits = candidates.filter((n) => cpuFits(cpu.from, n));
      const home = fits.some((n) => n.name === proc.home_node) ? proc.home_node : fits[0]?.name ?? proc.home_node;
      target = place(candidates, { home, cpu });
      const epoch = proc.epoch + 1;
      const account = accountOf(ctx.config, proc.owner);
      const s = await stage(proc.id, account, target, latest, { acceptChanged: false });
      rid = s.rid;
      const restored = await ctx.agent(target).restore(proc.id, { migrationId: s.rid, account, epoch, inodes: s.staged.inodes, ...restoreStreams(proc) });
      const files = describeFiles(s.staged);
      recorded(
        proc,
        { node: target, pid: restored.pid, epoch },
        `process ${proc.id} was lost with node ${avoid} and recovered on ${target} as PID ${restored.pid} from its checkpoint ${latest.number} (${latest.path}, taken ${new Date(latest.taken_at).toISOString()}): it goes on from there${files ? `; ${files}` : ''}`,
      );
    } catch (err) {
      markLost(`recovering it from ${latest.path}${target ? ` on ${target}` : ''} failed: ${toGodwitError(err).message}`);
    } finally {
      if (rid !== undefined && target) dropStaged(target, rid);
    }
    bus.emit('process', proc.id);
  }

  return {
    info: async (user, file) => describe(resolveFile(user.name, file)),
    recover,
    recoverLost,
  };
}
