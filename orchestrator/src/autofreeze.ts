/**
 * Automatic freezing and thawing (MOSIX): every balancer interval, while `autoFreeze` is on, it
 * looks at the memory the agents report and carries out what freeze-decision.ts plans: a process
 * leaves a node short of memory (moved, or frozen with FRZ A), and processes frozen with A or E
 * come back when room returns. Like the balancer, it looks again only once every node has
 * reported since its last actions. Every action is an event, with its reason (GET /v1/events).
 * Its state is the database's (frz, the frozen migration), so it survives restarts.
 */
import { toGodwitError } from '@godwit/schemas';
import { sleep } from './bus.js';
import type { Ctx } from './context.js';
import { readBalancerSettings } from './balancer.js';
import { type FrozenProc, type MemAction, type MemNode, type MemProc, planMemory } from './freeze-decision.js';
import type { Migrator } from './migration/migrator.js';

export interface AutoFreeze {
  start(): void;
  stop(): void;
}

export function createAutoFreeze(ctx: Ctx, migrator: Migrator): AutoFreeze {
  const { db, log, nodes } = ctx;
  let stopped = false;
  let quietSince = 0;

  function look(): { nodes: MemNode[]; running: MemProc[]; frozen: FrozenProc[] } | null {
    // the registry's links say who is online now; the database's state may be from before a restart
    const reported = nodes.list().filter((n) => n.load && nodes.isOnline(n.name));
    if (reported.some((n) => n.load!.at < quietSince)) return null;
    const view: MemNode[] = reported.map((n) => ({
      name: n.name, online: true, usable: !n.drained, memTotalBytes: n.load!.memTotalBytes, memFreeBytes: n.load!.memFreeBytes,
    }));
    const rss = new Map(reported.flatMap((n) => (n.load!.procs ?? []).map((l) => [`${l.id}/${l.epoch}`, l.rssBytes] as const)));
    const running: MemProc[] = [];
    const frozen: FrozenProc[] = [];
    for (const p of db.q.liveProcesses.all()) {
      if (p.state === 'running') {
        running.push({ id: p.id, node: p.node, locked: p.locked === 1, rssBytes: rss.get(`${p.id}/${p.epoch}`) ?? 0, cannotFreeze: p.frz === 'N' || p.address !== null });
      } else if (p.state === 'frozen' && (p.frz === 'A' || p.frz === 'E' || p.frz === 'M')) {
        const m = db.q.frozenMigration.get(p.id);
        if (!m) continue;
        const steps = JSON.parse(m.steps) as { state: string; at: number }[];
        const frozenAt = steps.filter((st) => st.state === 'frozen').at(-1)?.at ?? m.started_at;
        frozen.push({ id: p.id, frz: p.frz, home: p.home_node, imageNode: m.from_node, imageBytes: m.bytes ?? 0, frozenAt });
      }
    }
    return { nodes: view, running, frozen };
  }

  /** marks a process that cannot be frozen (FRZ N), saying why */
  function markCannotFreeze(id: number, node: string, why: string): void {
    db.tx(() => {
      db.q.setRunningFrz.run({ id, frz: 'N' });
      db.event({ processId: id, node, kind: 'cannot-freeze', message: `process ${id} should be frozen, but cannot be (FRZ N): ${why}` });
    });
    ctx.bus.emit('process', id);
  }

  async function freeze(id: number, node: string, reason: string): Promise<void> {
    const proc = db.q.processById.get(id);
    if (proc?.state !== 'running') return;
    db.event({ processId: id, node, kind: 'auto-freeze', message: reason });
    try {
      await migrator.freeze(proc, 'A');
    } catch (err) {
      const e = toGodwitError(err);
      // CRIU's refusal is the process's; anything else (its agent gone, a move begun meanwhile) is tried again later
      if (e.code === 'GODWIT_ERR_CANNOT_DUMP') markCannotFreeze(id, node, e.message);
      else log.warn({ process: id }, `could not freeze process ${id}: ${e.message}`);
    }
  }

  async function carryOut(a: MemAction): Promise<void> {
    const proc = db.q.processById.get(a.processId);
    if (!proc) return;
    if (a.kind === 'unmark') {
      db.tx(() => {
        db.q.setRunningFrz.run({ id: a.processId, frz: '-' });
        db.event({ processId: a.processId, node: a.node, kind: 'freezable', message: `process ${a.processId} is no longer marked FRZ N: ${a.reason}` });
      });
      ctx.bus.emit('process', a.processId);
      return;
    }
    if (a.kind === 'thaw') {
      if (proc.state !== 'frozen') return;
      db.event({ processId: a.processId, node: a.to, kind: 'auto-thaw', message: `process ${a.processId} comes back on ${a.to}: ${a.reason}` });
      // a failed return leaves it frozen (with its FRZ) and is an event of its own: the next look tries again
      await migrator.thaw(proc, a.to).catch((err: unknown) => log.warn({ process: a.processId }, toGodwitError(err).message));
      return;
    }
    if (proc.state !== 'running') return;
    // what CRIU cannot dump can be neither moved nor frozen: asked before anything stops
    let reasons: string[];
    try {
      reasons = (await ctx.agent(proc.node).inspect(proc.id)).reasons;
    } catch (err) {
      log.warn({ process: proc.id }, `could not look at process ${proc.id} before freezing it: ${toGodwitError(err).message}`);
      return;
    }
    if (reasons.length) return markCannotFreeze(proc.id, proc.node, reasons.join('; '));
    if (a.kind === 'freeze') return freeze(proc.id, a.node, a.reason);
    db.event({ processId: a.processId, node: a.from, kind: 'auto-move', message: a.reason });
    try {
      await migrator.migrate(proc, a.to, 'auto');
    } catch (err) {
      await freeze(proc.id, a.from, `${a.reason}; the move failed (${toGodwitError(err).message}), so it is frozen instead`);
    }
  }

  async function tick(): Promise<void> {
    const s = readBalancerSettings(db);
    if (!s.autoFreeze) return;
    const seen = look();
    if (!seen) return;
    const actions = planMemory(seen.nodes, seen.running, seen.frozen, s, Date.now());
    if (!actions.length) return;
    await Promise.all(actions.map((a) => carryOut(a).catch((err: unknown) => log.error({ err, process: a.processId }, `automatic ${a.kind} of process ${a.processId} failed`))));
    // marks change nothing on the nodes: only real actions wait for fresh reports
    if (actions.some((a) => a.kind !== 'unmark')) quietSince = Date.now();
  }

  async function loop(): Promise<void> {
    while (!stopped && !ctx.closing.aborted) {
      await tick().catch((err: unknown) => log.error({ err }, 'automatic freezing failed to look at the cluster'));
      await sleep(readBalancerSettings(db).intervalMs, ctx.closing);
    }
  }

  return {
    start: () => void loop(),
    stop() {
      stopped = true;
    },
  };
}
