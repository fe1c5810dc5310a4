/**
 * Moves each live process's output from the agents into <dataDir>/output and hands it to the
 * people following it. One puller per process reads the epoch it is at from the node that
 * ran it, through the epoch's end frame, then goes on with the next epoch wherever it runs.
 */
import { encodeFrame, type EpochEnd, type Frame, FrameDecoder, type OutputLine } from '@godwit/schemas';
import { sleep, waitUntil } from './bus.js';
import type { Ctx } from './context.js';
import type { ProcessRow } from './db.js';
import { appendLog, ensureOutputDir, type ReadCursor, readLog, recoverLog } from './output-log.js';

export interface OutputRelay {
  /** starts the puller of a live process, unless it runs already */
  start(id: number): void;
  /** NDJSON-ready lines from `from`; with follow, until the process has ended */
  read(id: number, from: number, follow: boolean, signal: AbortSignal): AsyncGenerator<OutputLine>;
  /** resolves when all pullers have stopped (after ctx.closing is aborted) */
  stopped(): Promise<void>;
}

const isLive = (r: ProcessRow | undefined) => r !== undefined && (r.state === 'running' || r.state === 'migrating');

export function createOutputRelay(ctx: Ctx): OutputRelay {
  const { db, bus, log, config } = ctx;
  const pullers = new Map<number, Promise<void>>();
  ensureOutputDir(config.dataDir);

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
  function store(id: number, frames: Frame[]): EpochEnd | undefined {
    const groupLimit = Math.max(1, Math.floor(config.outputLimitBytes / 4));
    let group: Frame[] = [];
    let bytes = 0;
    for (const f of frames) {
      group.push(f);
      bytes += 5 + f.data.length;
      if (f.type === 'x') return storeGroup(id, group);
      if (bytes >= groupLimit) {
        storeGroup(id, group);
        group = [];
        bytes = 0;
      }
    }
    if (group.length) storeGroup(id, group);
    return undefined;
  }

  function storeGroup(id: number, frames: Frame[]): EpochEnd | undefined {
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
    let logSize = row.log_size;
    if (parts.length) {
      logSize = appendLog(config.dataDir, db, row, Buffer.concat(parts), config.outputLimitBytes);
    }
    db.tx(() => {
      db.q.setOutputProgress.run({
        id,
        out_epoch_offset: epochOffset,
        out_epoch_ended: end ? 1 : 0,
        out_offset: outOffset,
        log_size: logSize,
      });
      if (exited) {
        db.q.endProcess.run({ id, state: 'exited', exit_code: end!.code, exit_signal: end!.signal, ended_at: Date.now() });
        const how = end!.signal ? `was killed by ${end!.signal}` : `exited with code ${end!.code}`;
        db.event({ processId: id, node: row.out_node, kind: 'exited', message: `process ${id} ${how} on ${row.out_node}` });
      }
    });
    bus.emit('output', id);
    if (exited) bus.emit('process', id);
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
    const first = db.q.processById.get(id);
    if (!first) return;
    recoverLog(config.dataDir, db, first);
    let delay = 100;
    let lastError = '';
    while (!signal.aborted) {
      const row = db.q.processById.get(id);
      if (!row || !isLive(row)) return;
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
          end = store(id, frames);
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
      let cursor: ReadCursor | undefined;
      for (;;) {
        const row = db.q.processById.get(id);
        if (!row) return;
        const r = readLog(config.dataDir, row, pos, cursor);
        cursor = r.cursor;
        pos = r.next;
        for (const l of r.lines) yield { offset: l.offset, stream: l.stream, data: l.data.toString('base64') };
        if (r.lines.length && pos < row.out_offset) continue;
        if (!isLive(row)) {
          yield { exit: { code: row.exit_code, signal: row.exit_signal } };
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
