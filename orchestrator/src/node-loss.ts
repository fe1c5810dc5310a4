/**
 * A node whose agent stays unreachable past nodeLostMs is lost: each process that ran there is
 * recovered elsewhere from its latest checkpoint if its user asked for that (mosrun
 * --recover-on-failure), and marked lost otherwise. Should the node come back with copies still
 * running, strays.ts ends them: the record says where each process runs.
 */
import type { Recovery } from './recovery.js';
import type { Ctx } from './context.js';

const TICK_MS = 1000;

export function createLossWatch(ctx: Ctx, recovery: Recovery) {
  const { db, nodes, config, log } = ctx;
  // a node's last report before this orchestrator started says nothing of how long it has been gone
  const startedAt = Date.now();
  const handling = new Set<string>();
  let timer: NodeJS.Timeout | undefined;

  async function handle(node: string): Promise<void> {
    const procs = db.q.runningOn.all(node);
    if (procs.length === 0) return;
    log.warn(`node ${node} is lost (no report for ${config.nodeLostMs} ms): ${procs.length} process(es) ran there`);
    db.event({ node, kind: 'node-lost', message: `node ${node} is lost: no report for ${Math.round(config.nodeLostMs / 1000)} s; its processes are recovered from their checkpoints where asked, or marked lost` });
    for (const proc of procs) await recovery.recoverLost(proc, node);
  }

  function tick(): void {
    const now = Date.now();
    for (const n of nodes.list()) {
      if (nodes.isOnline(n.name) || handling.has(n.name)) continue;
      if (now - Math.max(n.lastSeen ?? 0, startedAt) < config.nodeLostMs) continue;
      handling.add(n.name);
      handle(n.name)
        .catch((err: unknown) => log.error({ err, node: n.name }, `handling the loss of ${n.name} failed`))
        .finally(() => handling.delete(n.name));
    }
  }

  return {
    start: () => {
      timer ??= setInterval(tick, TICK_MS);
      timer.unref();
    },
    stop: () => clearInterval(timer),
  };
}
