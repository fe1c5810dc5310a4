/**
 * What a starting orchestrator does so that one killed at any moment loses no process: finish
 * or undo each migration it finds half done, by looking at what the agents hold, and restart
 * the output relay of every live process.
 */
import { type AgentProc, GodwitError, toGodwitError } from '@godwit/schemas';
import { sleep } from '../bus.js';
import type { Ctx } from '../context.js';
import { type DumpRecord, type MigrationRow, type ProcessRow, toDumpRecord } from '../db/index.js';
import type { OutputRelay } from '../output-relay.js';
import { processLost } from '../process-life.js';
import { deliverQueuedSignals } from '../queued-signals.js';
import type { MigrationEnds } from './failure.js';
import type { MigrationLock } from './lock.js';
import { type Pipeline, keepsSourceCopy } from './pipeline.js';

export interface Resumer {
  /** finishes one migration left half done, from where the agents say it stands */
  resume(m: MigrationRow): Promise<void>;
  /** finishes every migration left half done, marks lost what no agent knows, and restarts the output relays */
  reconcile(relay: OutputRelay): Promise<void>;
}

const at = (procs: AgentProc[], id: number, epoch: number) => procs.find((p) => p.id === id && p.epoch === epoch);

export function createResumer(ctx: Ctx, lock: MigrationLock, ends: MigrationEnds, pipeline: Pipeline): Resumer {
  const { db, log } = ctx;

  /**
   * Marks lost the processes a node's agent no longer knows, from one list of the agent's, then
   * starts the output relays of those it runs: asked for before, their streams (one request
   * each) would queue the list behind them.
   */
  async function checkNode(node: string, ids: number[], relay: OutputRelay): Promise<void> {
    if (ids.length === 0) return;
    if (!(await ctx.nodes.waitOnline([node], ctx.tunables.reconcileWaitMs, ctx.closing))) {
      log.warn(`node ${node} is not online; its ${ids.length} process(es) stay as recorded until it is`);
      for (const id of ids) relay.start(id);
      return;
    }
    const runs = new Map((await ctx.agent(node).list()).map((p) => [`${p.id}.${p.epoch}`, p]));
    const lost: number[] = [];
    db.tx(() => {
      for (const id of ids) {
        const row = db.q.processById.get(id);
        if (!row || row.state !== 'running' || row.node !== node) continue;
        const found = runs.get(`${id}.${row.epoch}`);
        if (found) {
          if (row.pid === null && found.pid !== null) db.q.setPid.run({ id, pid: found.pid });
          continue;
        }
        const message = `process ${id} is lost: the agent of ${node} no longer knows its run ${row.epoch}`;
        processLost(db, { id, node, message });
        log.warn(message);
        lost.push(id);
      }
    });
    for (const id of lost) ctx.bus.emit('process', id);
    for (const id of ids) relay.start(id);
  }

  async function listWhileDumping(node: string, id: number, deadline: number): Promise<AgentProc[]> {
    for (;;) {
      const procs = await ctx.agent(node).list();
      if (!procs.some((p) => p.id === id && p.state === 'dumping') || Date.now() > deadline) return procs;
      await sleep(500, ctx.closing);
    }
  }

  /** a step resumed here that fails has said why in its migration's record and events */
  const logged = (p: Promise<unknown>) => p.catch((err: unknown) => log.warn(toGodwitError(err).message));

  async function resume(m: MigrationRow): Promise<void> {
    const id = m.process_id;
    const from = m.from_node;
    const to = m.to_node;
    let delay = 500;
    for (;;) {
      if (ctx.closing.aborted) return;
      await ctx.nodes.waitOnline([from, to], ctx.tunables.reconcileWaitMs, ctx.closing);
      try {
        const deadline = Date.now() + ctx.tunables.dumpingWaitMs;
        const src = await listWhileDumping(from, id, deadline);
        const dst = await listWhileDumping(to, id, deadline);
        const next = m.from_epoch + 1;
        const dNew = at(dst, id, next);
        const dump: DumpRecord | null = m.dump ? toDumpRecord(m.dump) : null;
        const sNew = at(src, id, next);
        const sOld = at(src, id, m.from_epoch);
        if (dNew && dNew.state !== 'dumped' && dump?.lazy) {
          log.info(`migration ${m.id}: process ${id} runs on ${to}; its memory follows from ${from}`);
          await logged(pipeline.runFrom('follow-memory', { m, dump, restored: { pid: dNew.pid, restoredAt: null }, sourceCopy: true }));
          return;
        }
        if (dNew && dNew.state !== 'dumped') {
          log.info(`migration ${m.id}: process ${id} runs on ${to}: done`);
          await pipeline.runFrom('release-source', { m, dump, restored: { pid: dNew.pid, restoredAt: null }, sourceCopy: sOld?.state === 'stopped' });
          return;
        }
        const cause = new GodwitError('GODWIT_ERR_MIGRATION_FAILED', 'the orchestrator restarted during the migration');
        if (sOld?.state === 'stopped') {
          // a direct dump left it stopped at the source, and it runs nowhere else: let it run on
          const record: DumpRecord = { ...(dump ?? { stoppedAt: null, inodes: sOld.inodes, bytes: 0 }), direct: true };
          await logged(ends.rollback(m, cause, record));
          return;
        }
        const stayed = sNew && sNew.state !== 'dumped' ? sNew : sOld && sOld.state !== 'dumped' ? sOld : undefined;
        if (stayed) {
          ends.finishStayed(m, stayed, `the orchestrator restarted during the migration; the process stayed on ${from}`);
          return;
        }
        // without a recorded dump, the agent's list still has the streams' inodes of the dumped run
        const images: DumpRecord | null = dump ?? (sOld ? { stoppedAt: null, inodes: sOld.inodes, bytes: 0 } : null);
        if (images && (await ctx.agent(from).hasImages(m.id))) {
          await logged(ends.rollback(m, cause, images));
          return;
        }
        if (images && (await ctx.agent(to).hasImages(m.id))) {
          await logged(pipeline.runFrom('restore', { m, dump: images, sourceCopy: keepsSourceCopy(images) }));
          return;
        }
        const reason = `process ${id} is lost: after the orchestrator restarted during its migration ${m.id}, neither ${from} nor ${to} runs it or holds its images`;
        ends.finishLost(m, reason);
        log.warn(reason);
        return;
      } catch (err) {
        const e = toGodwitError(err);
        if (e.code !== 'GODWIT_ERR_AGENT_UNREACHABLE') throw err;
        log.warn(`migration ${m.id}: ${e.message}; trying again`);
        await sleep(delay, ctx.closing);
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  async function reconcile(relay: OutputRelay): Promise<void> {
    const startedAt = Date.now();
    const live = db.q.liveProcesses.all();
    const unfinished = db.q.unfinishedMigrations.all();
    if (unfinished.length) log.info(`reconciling ${unfinished.length} unfinished migration(s)`);
    const busy = new Set(unfinished.map((m) => m.process_id));
    const checked = (p: ProcessRow) => p.state === 'running' && !busy.has(p.id);
    // the rest (frozen, migrating) have no node's list to wait for
    for (const p of live) if (!checked(p)) relay.start(p.id);
    await Promise.all([
      ...unfinished.map((m) =>
        lock
          // a continue finished here hands its process the signals that waited for it, as thaw does
          .exclusive(m.process_id, () => resume(m).then(() => deliverQueuedSignals(ctx, m.process_id)))
          .catch((err: unknown) => log.error({ err, migration: m.id }, `could not reconcile migration ${m.id}`)),
      ),
      ...ctx.nodes.names.map((node) =>
        checkNode(node, live.filter((p) => p.node === node && checked(p)).map((p) => p.id), relay).catch((err: unknown) =>
          log.error({ err, node }, `could not check the processes of node ${node}`),
        ),
      ),
    ]);
    const now = db.q.liveProcesses.all();
    for (const p of now) relay.start(p.id);
    // what a scheduler (and bench:many) waits for after a restart: every record checked against its node
    const message = `reconciled at start in ${Date.now() - startedAt} ms: ${now.length} live process(es), ${unfinished.length} unfinished migration(s)`;
    db.event({ kind: 'reconciled', message });
    log.info(message);
  }

  return { resume, reconcile };
}
