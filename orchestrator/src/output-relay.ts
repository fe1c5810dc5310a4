/**
 * Moves each live process's output from the agents that ran it to its home node's agent, which
 * keeps it (bounded, in two rotating segments: the agent's kept-output.ts), and hands it to the
 * people following it. One puller per process reads the epoch it is at from the node that ran
 * it, through the epoch's end frame, then goes on with the next epoch wherever it runs. The
 * database records how much of the kept output is valid; the home agent cuts back to that.
 *
 * Nothing is spooled without bound on the way: each epoch's keeper writes at most its agent's
 * outputSpoolBytes beyond what the relay has stored (told after each store: `taken`), and while a
 * follower is attached the relay stores at most a short lead ahead of it, so a program whose
 * foreground mosrun writes slowly (or not at all: `| head -1`) waits, as on a full pipe.
 */
import { encodeFrame, type EpochEnd, type Frame, FrameDecoder, GodwitError, type KeptLayout, type OutputLine } from '@godwit/schemas';
import { sleep, waitUntil } from './bus.js';
import type { Ctx } from './context.js';
import { diedOf, type ProcessRow } from './db/index.js';
import { howDied } from './death.js';
import { processExited } from './process-life.js';
import { latestOnly } from './latest-only.js';
import type { OutputFollowers } from './output-followers.js';

export interface OutputRelay {
  /** starts the puller of a live process, unless it runs already */
  start(id: number): void;
  /** NDJSON-ready lines from `from`; with follow, until the process has ended */
  read(id: number, from: number, follow: boolean, signal: AbortSignal): AsyncGenerator<OutputLine>;
  /** resolves when all pullers have stopped (after ctx.closing is aborted) */
  stopped(): Promise<void>;
}

// a frozen process is still alive: its next run comes when it continues
const isLive = (r: ProcessRow | undefined) => r !== undefined && (r.state === 'running' || r.state === 'migrating' || r.state === 'frozen');

/** how often a relay held back by a follower asks whether the epoch has ended meanwhile */
const ENDED_POLL_MS = 500;

export function createOutputRelay(ctx: Ctx, followers: OutputFollowers): OutputRelay {
  const { db, bus, log, config } = ctx;
  const pullers = new Map<number, Promise<void>>();
  const lead = Math.max(1, Math.min(ctx.tunables.followerLeadBytes, Math.floor(config.outputLimitBytes / 4)));
  const taken = latestOnly<number, { node: string; epoch: number; offset: number }>({
    deliver: (id, t) => ctx.agent(t.node).taken(id, t.epoch, t.offset),
    // an agent that answered (not one restarting) and a process that ended need no more word
    giveUp: (id, err) => !isLive(db.q.processById.get(id)) || (err instanceof GodwitError && err.code !== 'GODWIT_ERR_AGENT_UNREACHABLE'),
    retryMs: ctx.tunables.retryMaxMs,
  });

  /**
   * Waits while the kept output is a lead ahead of the slowest attached follower; not once the
   * epoch has ended where it ran (what is left is one spool at most), so the process's end is
   * known at once however slowly its follower writes.
   */
  async function heldByFollowers(id: number, row: ProcessRow): Promise<void> {
    let endedThere = false;
    let asked = 0;
    await waitUntil(
      bus,
      ['followers', 'process'],
      () => {
        const now = db.q.processById.get(id);
        // an attached program without its follower waits for it where the last one left (hangup.ts detaches it in the end)
        const mark = followers.slowestAttached(id) ?? (now?.attached === 1 ? (followers.lastLeft(id) ?? 0) : undefined);
        if (endedThere || mark === undefined || !now || now.out_offset - mark < lead || ctx.closing.aborted) return true;
        if (Date.now() - asked >= ENDED_POLL_MS) {
          asked = Date.now();
          ctx.agent(row.out_node).epoch(id, row.out_epoch).then(
            (e) => {
              if (!e || e.state === 'exited' || e.state === 'dumped') {
                endedThere = true;
                bus.emit('followers', id);
              }
            },
            () => undefined, // asked again at the next look
          );
        }
        return undefined;
      },
      { signal: ctx.closing, pollMs: ENDED_POLL_MS },
    );
  }

  /** where the epoch after the one the relay has finished runs, once a migration says so */
  function nextEpoch(id: number): { node: string; epoch: number } | 'ended' | undefined {
    const row = db.q.processById.get(id);
    if (!isLive(row)) return 'ended';
    const m = db.q.migrationRestoring.get({ process_id: id, from_epoch: row!.out_epoch });
    return m?.restored_on ? { node: m.restored_on, epoch: row!.out_epoch + 1 } : undefined;
  }

  /**
   * Stores frames; returns the epoch's end frame if they held it. Stored in groups of at most a
   * quarter of the log limit, so that rotation (at a group's start) keeps the log bounded.
   */
  async function store(id: number, frames: Frame[]): Promise<EpochEnd | undefined> {
    const groupLimit = lead;
    let group: Frame[] = [];
    let bytes = 0;
    for (const f of frames) {
      group.push(f);
      bytes += 5 + f.data.length;
      if (f.type === 'x') {
        await heldByFollowers(id, db.q.processById.get(id)!);
        return storeGroup(id, group);
      }
      if (bytes >= groupLimit) {
        await heldByFollowers(id, db.q.processById.get(id)!);
        await storeGroup(id, group);
        group = [];
        bytes = 0;
      }
    }
    if (group.length) {
      await heldByFollowers(id, db.q.processById.get(id)!);
      await storeGroup(id, group);
    }
    return undefined;
  }

  async function storeGroup(id: number, frames: Frame[]): Promise<EpochEnd | undefined> {
    const row = db.q.processById.get(id)!;
    let epochOffset = row.out_epoch_offset;
    let outOffset = row.out_offset;
    let end: EpochEnd | undefined;
    const parts: Buffer[] = [];
    for (const f of frames) {
      epochOffset += 5 + f.data.length;
      if (f.type === 'x') {
        end = JSON.parse(f.data.toString('utf8')) as EpochEnd;
        break;
      }
      parts.push(encodeFrame(f.type, f.data));
      outOffset += f.data.length;
    }
    const exited = end !== undefined && !end.dumped;
    if (exited) parts.push(encodeFrame('x', Buffer.from(JSON.stringify({ code: end!.code, signal: end!.signal }))));
    let layout: KeptLayout = { logBase: row.log_base, logSize: row.log_size, log1Base: row.log1_base };
    if (parts.length) {
      layout = await ctx.agent(row.home_node).keptAppend(
        id,
        { logBase: row.log_base, logSize: row.log_size, outOffset: row.out_offset, limit: config.outputLimitBytes },
        Buffer.concat(parts),
      );
    }
    db.tx(() => {
      db.q.setLogLayout.run({ id, log1_base: layout.log1Base, log_base: layout.logBase, log_size: layout.logSize });
      db.q.setOutputProgress.run({
        id,
        out_epoch_offset: epochOffset,
        out_epoch_ended: end ? 1 : 0,
        out_offset: outOffset,
      });
      if (end?.dumped && (end.oomKills ?? 0) > 0) db.q.addEarlierOomKills.run({ id, kills: end.oomKills!, node: row.out_node });
      if (exited) {
        // ended after its checkpoint, as asked (`mosmigrate ID exit`): no death to tell of
        const died = row.exit_checkpoint ? null : howDied(end!, row.out_node, { kills: row.earlier_oom_kills, node: row.earlier_oom_node });
        const how = row.exit_checkpoint
          ? `ended after its checkpoint ${row.exit_checkpoint}, as asked (\`mosrun -R ${row.exit_checkpoint}\` brings it back)`
          : died ? `was ${died.reason}` : `exited with code ${end!.code}`;
        processExited(db, end!, died, { id, node: row.out_node, message: `process ${id} ${how} on ${row.out_node}` });
      }
    });
    bus.emit('output', id);
    if (exited) bus.emit('process', id);
    else if (!end) taken.send(id, { node: row.out_node, epoch: row.out_epoch, offset: epochOffset });
    return end;
  }

  async function deleteEpoch(node: string, id: number, epoch: number): Promise<void> {
    try {
      await ctx.agent(node).deleteEpoch(id, epoch);
    } catch (err) {
      log.warn({ err, id, epoch, node }, `could not delete epoch ${epoch} of process ${id} on ${node}`);
    }
  }

  async function pull(id: number): Promise<void> {
    const signal = ctx.closing;
    if (!db.q.processById.get(id)) return;
    let delay = 100;
    let lastError = '';
    while (!signal.aborted) {
      const row = db.q.processById.get(id);
      if (!row || !isLive(row)) return followers.forget(id);
      if (row.out_epoch_ended) {
        const next = await waitUntil(bus, ['process'], () => nextEpoch(id), { signal, pollMs: 1000 });
        if (next === undefined || next === 'ended') continue;
        await deleteEpoch(row.out_node, id, row.out_epoch);
        db.q.setOutputEpoch.run({ id, out_node: next.node, out_epoch: next.epoch });
        continue;
      }
      let end: EpochEnd | undefined;
      try {
        const stream = await ctx.agent(row.out_node).output(id, row.out_epoch, row.out_epoch_offset, signal);
        const decoder = new FrameDecoder();
        for await (const chunk of stream) {
          const frames = decoder.push(Buffer.from(chunk));
          if (frames.length === 0) continue;
          end = await store(id, frames);
          delay = 100;
          lastError = '';
          if (end) break;
        }
        if (end && !end.dumped) await deleteEpoch(row.out_node, id, row.out_epoch);
        if (!end) throw new Error('the output stream ended before the epoch did');
      } catch (err) {
        if (signal.aborted) return;
        const msg = (err as Error).message;
        if (msg !== lastError) {
          log.warn({ id, node: row.out_node, epoch: row.out_epoch }, `output of process ${id} from ${row.out_node}: ${msg}; retrying`);
          lastError = msg;
        }
        await sleep(delay, signal);
        delay = Math.min(delay * 2, ctx.tunables.retryMaxMs);
      }
    }
  }

  return {
    start(id) {
      if (pullers.has(id) || ctx.closing.aborted) return;
      const p = pull(id)
        .catch((err: unknown) => log.error({ err, id }, `output relay of process ${id} stopped`))
        .finally(() => pullers.delete(id));
      pullers.set(id, p);
    },

    async *read(id, from, follow, signal) {
      let pos = from;
      for (;;) {
        const row = db.q.processById.get(id);
        if (!row) return;
        if (pos < row.out_offset) {
          let lines: OutputLine[];
          try {
            const r = await ctx.agent(row.home_node).keptRead(id, {
              from: pos,
              end: row.out_offset,
              logBase: row.log_base,
              logSize: row.log_size,
              ...(row.log1_base !== null ? { log1Base: row.log1_base } : {}),
            });
            lines = r.lines;
            pos = r.next;
          } catch (err) {
            // a follower waits for the home node to come back; its output is kept there
            if (!follow || signal.aborted) throw err;
            await sleep(ctx.tunables.retryMaxMs, signal);
            continue;
          }
          yield* lines;
          if (lines.length && pos < row.out_offset) continue;
        }
        if (!isLive(row)) {
          const died = diedOf(row);
          yield {
            exit: {
              code: row.exit_code, signal: row.exit_signal, ...(died ? { died } : {}), ...(row.exit_checkpoint !== null ? { checkpoint: row.exit_checkpoint } : {}),
            },
          };
          return;
        }
        if (!follow || signal.aborted) return;
        const seen = pos;
        await waitUntil(
          bus,
          ['output', 'process'],
          () => {
            const now = db.q.processById.get(id);
            return !now || now.out_offset > seen || !isLive(now) ? true : undefined;
          },
          { signal, pollMs: 1000 },
        );
        if (signal.aborted) return;
      }
    },

    stopped: async () => {
      await Promise.allSettled([...pullers.values()]);
    },
  };
}
