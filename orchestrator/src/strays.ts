/**
 * A copy of a program running where its record says it does not: left by a restore that went on
 * to the end on a node whose agent died meanwhile, after the orchestrator had let the program run
 * on at its source. Two copies would both act on its files; the one the record does not know ends.
 * Looked for each time a node's agent says hello.
 */
import { type AgentProc, toGodwitError } from '@godwit/schemas';
import type { Ctx } from './context.js';

export async function endStrayCopies(ctx: Ctx, node: string): Promise<void> {
  const { db, log } = ctx;
  const procs = await ctx.agent(node).list();
  const latest = new Map<number, AgentProc>();
  for (const p of procs) if ((latest.get(p.id)?.epoch ?? -1) < p.epoch) latest.set(p.id, p);
  for (const p of latest.values()) {
    if (p.state !== 'running') continue;
    const row = db.q.processById.get(p.id);
    // a migration or a freeze decides for itself which copy runs on
    if (!row || row.state === 'migrating' || row.state === 'frozen') continue;
    if (row.state === 'running' && row.node === node && row.epoch === p.epoch) continue;
    const message = `a second copy of process ${p.id} (run ${p.epoch}) was found running on ${node}, where it does not run (it is ${row.state}${row.state === 'running' ? ` on ${row.node}, run ${row.epoch}` : ''}): that copy was ended`;
    try {
      await ctx.agent(node).signal(p.id, { signal: 'SIGKILL' });
      db.event({ processId: p.id, node, kind: 'stray-ended', message });
      log.warn(message);
    } catch (err) {
      log.error({ err }, `could not end a second copy of process ${p.id} on ${node}: ${toGodwitError(err).message}`);
    }
  }
}
