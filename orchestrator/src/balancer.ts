/**
 * The automatic load balancer: every intervalMs it looks at the loads the agents report and
 * makes up to maxMoves moves at once (balance-decision.ts says which), waits for them to end,
 * and looks again only once every node has reported since, so that it never acts on loads from
 * before its own last moves: then at once, not an interval later, as a node that needed moves
 * may need more (12 programs started on one of 3 nodes take two rounds of 4). Its settings live
 * in SQLite (mosctl balance), its decisions in the event list.
 */
import { type BalanceDecision, type BalancerSettings, type BalancerStatus, type BalancerUpdate, type Node, type ProcLoad, toGodwitError } from '@godwit/schemas';
import { sleep } from './bus.js';
import { cpuFits } from './cpu-compat.js';
import type { Ctx } from './context.js';
import type { Db } from './db/index.js';
import { type BalanceNode, type BalanceProc, type Move, plan } from './balance-decision.js';
import type { Migrator } from './migration/migrator.js';

/**
 * Automatic freezing is on by default, as in MOSIX; 5% of a node's memory is a shortage that
 * leaves the kernel room before it reclaims hard or kills, and a 10 s hold keeps a process from
 * bouncing between frozen and running while reports catch up.
 */
export const DEFAULT_BALANCER: BalancerSettings = {
  enabled: true, intervalMs: 2000, minCpuSeconds: 5, holdSeconds: 20, maxMoves: 4,
  autoFreeze: true, memLowPercent: 5, thawHoldSeconds: 10,
};
/** decisions kept for GET /v1/balancer */
const KEEP_DECISIONS = 50;
/** how often it asks, after moves, whether every node has reported since (each does every second) */
const REPORTS_POLL_MS = 100;

export function readBalancerSettings(db: Db): BalancerSettings {
  const row = db.q.setting.get('balancer');
  return { ...DEFAULT_BALANCER, ...(row ? (JSON.parse(row.value) as BalancerUpdate) : {}) };
}

export interface Balancer {
  /** starts looking (once the orchestrator has reconciled what it found at start) */
  start(): void;
  status(): BalancerStatus;
  update(change: BalancerUpdate, by: string): BalancerSettings;
  stop(): void;
}

export function createBalancer(ctx: Ctx, migrator: Migrator): Balancer {
  const { db, log, nodes } = ctx;
  const decisions: BalanceDecision[] = [];
  /** CPU used by each process's earlier runs: a restored run's counters start again at zero */
  const cpu = new Map<number, { epoch: number; before: number; last: number }>();
  let stopped = false;
  let quietSince = 0;

  const settings = () => readBalancerSettings(db);

  function cpuTotal(id: number, load: ProcLoad): number {
    const seen = cpu.get(id);
    if (!seen) {
      cpu.set(id, { epoch: load.epoch, before: 0, last: load.cpuSeconds });
      return load.cpuSeconds;
    }
    if (seen.epoch !== load.epoch) {
      seen.before += seen.last;
      seen.epoch = load.epoch;
    }
    seen.last = load.cpuSeconds;
    return seen.before + seen.last;
  }

  /** the cluster as the balancer sees it, or null while a node's report predates the last move */
  function look(): { nodes: BalanceNode[]; procs: BalanceProc[] } | null {
    const all = nodes.list();
    const online = all.filter((n) => n.state === 'online' && n.load);
    if (online.some((n) => n.load!.at < quietSince)) return null;
    const byId = new Map(db.q.liveProcesses.all().map((p) => [p.id, p]));
    const procs: BalanceProc[] = [];
    for (const n of online) {
      for (const load of n.load!.procs ?? []) {
        const row = byId.get(load.id);
        const total = cpuTotal(load.id, load);
        if (!row || row.state !== 'running' || row.node !== n.name || row.epoch !== load.epoch) continue;
        const moves = db.q.migrationsOf.all(row.id).filter((m) => m.state === 'done' && m.from_node !== m.to_node);
        const last = moves.at(-1);
        // a program with its own address cannot move yet (address-pool.ts): the balancer leaves it as a locked one
        procs.push({
          id: row.id, node: n.name, locked: row.locked === 1 || row.address !== null, needMemBytes: row.need_mem_bytes, load, cpuSeconds: total,
          lastMove: last ? { at: last.ended_at ?? last.started_at, from: last.from_node } : null,
        });
      }
    }
    // processes that ended need no count of their CPU
    for (const id of cpu.keys()) if (!byId.has(id)) cpu.delete(id);
    const takesFrom = (to: Node) => new Set(online.filter((from) => cpuFits(from, to)).map((from) => from.name));
    const view = online.map((n) => ({ name: n.name, usable: !n.drained, cpuCapacity: n.load!.cpuCapacity, memFreeBytes: n.load!.memFreeBytes, takesFrom: takesFrom(n) }));
    return { nodes: view, procs };
  }

  /** one look, and the moves it calls for; says whether it looked (false: a report is awaited) */
  async function tick(s: BalancerSettings): Promise<boolean> {
    const seen = look();
    if (!seen) return false;
    const moves = plan(seen.nodes, seen.procs, s, Date.now(), s.maxMoves);
    if (!moves.length) return true;
    await Promise.all(moves.map((move) => carryOut(move)));
    quietSince = Date.now();
    return false;
  }

  async function carryOut(move: Move): Promise<void> {
    const proc = db.q.processById.get(move.processId);
    if (!proc) return;
    const decision: BalanceDecision = { at: Date.now(), ...move, migrationId: null, outcome: 'moving' };
    decisions.push(decision);
    if (decisions.length > KEEP_DECISIONS) decisions.shift();
    db.event({ processId: move.processId, node: move.from, kind: 'balance', message: `the balancer moves process ${move.processId} from ${move.from} to ${move.to}: ${move.reason}` });
    try {
      const m = await migrator.migrate(proc, move.to, 'auto');
      decision.migrationId = m.id;
      decision.outcome = 'moved';
    } catch (err) {
      const e = toGodwitError(err);
      decision.migrationId = (e.details?.migrationId as number | undefined) ?? null;
      decision.outcome = e.message;
      log.warn({ process: move.processId }, `the balancer could not move process ${move.processId}: ${e.message}`);
    }
  }

  async function loop(): Promise<void> {
    while (!stopped && !ctx.closing.aborted) {
      const s = settings();
      let looked = true;
      if (s.enabled) {
        looked = await tick(s).catch((err: unknown) => {
          log.error({ err }, 'the balancer failed to look at the cluster');
          return true;
        });
      }
      await sleep(looked ? s.intervalMs : REPORTS_POLL_MS, ctx.closing);
    }
  }

  return {
    start: () => void loop(),
    status: () => ({ settings: settings(), decisions: [...decisions].reverse() }),
    update(change, by) {
      const next = { ...settings(), ...change };
      db.tx(() => {
        db.q.setSetting.run({ name: 'balancer', value: JSON.stringify(next) });
        db.event({ node: null, kind: 'balancer', message: `${by} set the balancer to ${JSON.stringify(next)}` });
      });
      return next;
    },
    stop() {
      stopped = true;
    },
  };
}
