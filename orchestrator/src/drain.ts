/**
 * MOSIX's expel (mosctl drain NODE): nothing new starts or moves to the node, and every process
 * running there moves to the best other node; one that fits nowhere, or whose move fails, is
 * frozen where it is (FRZ E) rather than left running on a node being emptied.
 */
import { type DrainResult, toGodwitError } from '@godwit/schemas';
import type { Ctx } from './context.js';
import type { Migrator } from './migration/migrator.js';
import { cpuEndOf } from './cpu-compat.js';
import { place } from './placement.js';

export function setDrained(ctx: Ctx, name: string, drained: boolean, by: string): void {
  ctx.nodes.require(name);
  ctx.db.tx(() => {
    ctx.db.q.setNodeDrained.run({ name, drained: drained ? 1 : 0 });
    ctx.db.event({ node: name, kind: drained ? 'drained' : 'undrained', message: `${by} ${drained ? 'drained' : 'undrained'} node ${name}` });
  });
}

export async function drain(ctx: Ctx, migrator: Migrator, name: string, by: string): Promise<DrainResult> {
  setDrained(ctx, name, true, by);
  const result: DrainResult = { node: name, moved: [], frozen: [], failed: [] };
  for (const p of ctx.db.q.runningOn.all(name)) {
    const others = ctx.nodes.list().filter((n) => n.name !== name && ctx.nodes.isOnline(n.name));
    let why: string;
    try {
      const to = place(others, { home: p.home_node, best: true, cpu: { program: `process ${p.id} (running on ${name})`, from: cpuEndOf(ctx.nodes.list(), name) } });
      try {
        await migrator.migrate(p, to);
        result.moved.push({ processId: p.id, to });
        continue;
      } catch (err) {
        why = `moving it to ${to} failed: ${toGodwitError(err).message}`;
      }
    } catch (err) {
      why = `no other node can take it: ${toGodwitError(err).message}`;
    }
    try {
      await migrator.freeze(ctx.db.q.processById.get(p.id)!, 'E');
      result.frozen.push({ processId: p.id, reason: why });
    } catch (err) {
      result.failed.push({ processId: p.id, reason: `${why}; freezing it failed too: ${toGodwitError(err).message}` });
    }
  }
  return result;
}
