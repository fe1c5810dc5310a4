/**
 * Keeps the event log bounded: events older than limits.eventsKeepDays, and any beyond the newest
 * limits.eventsKeepCount, are deleted at start and then every PRUNE_EVERY_MS.
 */
import type { Limits } from '@godwit/schemas';
import type { Ctx } from './context.js';
import type { Db } from './db/index.js';

const PRUNE_EVERY_MS = 10 * 60_000;
const DAY_MS = 24 * 60 * 60_000;

/** deletes what the limits do not keep; returns how many events went */
export function pruneEvents(db: Db, limits: Pick<Limits, 'eventsKeepDays' | 'eventsKeepCount'>, now: number): number {
  return db.q.pruneEvents.run({ before: now - limits.eventsKeepDays * DAY_MS, keep: limits.eventsKeepCount }).changes;
}

export function createEventPruner(ctx: Ctx, everyMs = PRUNE_EVERY_MS) {
  let timer: NodeJS.Timeout | undefined;
  const prune = () => {
    const gone = pruneEvents(ctx.db, ctx.config.limits, Date.now());
    if (gone) ctx.log.info(`pruned ${gone} events past the ${ctx.config.limits.eventsKeepDays} days or ${ctx.config.limits.eventsKeepCount} events kept`);
  };
  return {
    start() {
      prune();
      timer ??= setInterval(prune, everyMs);
      timer.unref();
    },
    stop: () => clearInterval(timer),
  };
}
