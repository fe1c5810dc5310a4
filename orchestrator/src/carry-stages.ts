/**
 * A destination keeps the files sent ahead of a move (its stage) across a restart of its agent,
 * so that the move may still restore from it. As the agent comes online it hears which moves to
 * it are still in flight; the stages of the others, which ended while it was away, go.
 */
import type { Ctx } from './context.js';

export async function pruneStages(ctx: Pick<Ctx, 'db' | 'agent' | 'log'>, node: string): Promise<void> {
  const upTo = ctx.db.q.lastMigrationId.get()?.id ?? 0;
  const keep = ctx.db.q.unfinishedMigrations.all().filter((m) => m.to_node === node).map((m) => m.id);
  const { removed } = await ctx.agent(node).pruneStages({ keep, upTo });
  if (removed.length) ctx.log.info({ node, removed }, `${node} removed the files staged for moves that ended while its agent was away`);
}
