/**
 * SIGHUP for an attached program whose foreground is gone, as a local job gets it when its
 * terminal hangs up: mosrun was killed (SIGKILL) or lost its terminal, and no attached follower
 * (output-followers.ts) came back within hangupGraceMs. The grace lets mosrun reconnect after an
 * orchestrator restart (the followers are in memory: it counts from the first look after a start)
 * without the program seeing a hangup. A program hung up is detached from then on: it is told
 * once, and what it prints is kept on its home node.
 */
import type { Ctx } from './context.js';
import type { ProcessRow } from './db/index.js';
import type { Migrator } from './migration/migrator.js';
import type { OutputFollowers } from './output-followers.js';
import { queueSignal } from './queued-signals.js';

const LOOK_EVERY_MS = 500;
/** how long a hangup waits for a move under way to end, to reach the program where it lands */
const SETTLE_MS = 120_000;

export function createHangup(ctx: Ctx, migrator: Migrator, followers: OutputFollowers) {
  const { db, log } = ctx;
  /** attached processes without an attached follower, since when */
  const orphanSince = new Map<number, number>();
  let timer: NodeJS.Timeout | undefined;
  let looking = false;

  async function hangUp(row: ProcessRow): Promise<void> {
    const gone = Math.round(ctx.tunables.hangupGraceMs / 100) / 10;
    db.tx(() => {
      db.q.setAttached.run({ id: row.id, attached: 0 });
      db.event({
        processId: row.id,
        node: row.node,
        kind: 'hangup',
        message: `process ${row.id} was sent SIGHUP: its foreground (mosrun) has been gone for ${gone} s`,
      });
    });
    // a frozen program takes it as it continues, as every catchable signal sent to it (queued-signals.ts)
    if (row.state === 'migrating') await migrator.settled(row.id, SETTLE_MS, ctx.closing);
    const now = db.q.processById.get(row.id);
    if (now?.state === 'frozen') return void queueSignal(ctx, now, 'SIGHUP', 'hangup');
    if (now?.state !== 'running') return;
    await ctx.agent(now.node).signal(now.id, { signal: 'SIGHUP' });
  }

  async function look(): Promise<void> {
    const now = Date.now();
    const live = new Set<number>();
    for (const row of db.q.liveProcesses.all()) {
      live.add(row.id);
      if (row.attached !== 1 || followers.attachedCount(row.id) > 0) {
        orphanSince.delete(row.id);
        continue;
      }
      const since = orphanSince.get(row.id) ?? now;
      orphanSince.set(row.id, since);
      if (now - since < ctx.tunables.hangupGraceMs) continue;
      orphanSince.delete(row.id);
      try {
        await hangUp(row);
      } catch (err) {
        log.warn({ err, id: row.id }, `could not send SIGHUP to process ${row.id}, whose mosrun is gone`);
      }
    }
    for (const id of orphanSince.keys()) if (!live.has(id)) orphanSince.delete(id);
  }

  return {
    start(): void {
      timer = setInterval(() => {
        if (looking || ctx.closing.aborted) return;
        looking = true;
        look()
          .catch((err: unknown) => log.error({ err }, 'looking for programs whose mosrun is gone failed'))
          .finally(() => (looking = false));
      }, LOOK_EVERY_MS);
    },
    stop(): void {
      clearInterval(timer);
    },
  };
}
