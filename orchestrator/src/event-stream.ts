/**
 * GET /v1/events?follow=true: a watch stream of server-sent events (text/event-stream). Each
 * event goes out with its id, so a client that reconnects with Last-Event-ID (or ?after=ID)
 * resumes after the last it had, with no gap and nothing twice: the stream always reads the
 * database for ids after the last sent, so events recorded while it waited on a slow reader are
 * sent then, in order, rather than queued in memory or dropped. Where events after the last sent
 * were pruned meanwhile (event-pruning.ts: a watcher resuming late, or one reading too slowly),
 * the stream says so in a `gap` event naming the first it can give, instead of going on as if
 * nothing was missed.
 */
import { once } from 'node:events';
import type { FastifyReply } from 'fastify';
import type { EventGap, Limits } from '@godwit/schemas';
import type { Ctx } from './context.js';
import { toEvent } from './db/index.js';
import type { PageFilter } from './db/queries/pages.js';

/** rows read at once while catching up */
const BATCH = 500;
/** a comment this often keeps proxies and idle timers from closing a quiet stream */
const HEARTBEAT_MS = 15_000;

/**
 * The `gap` event: no id (a client resuming from its Last-Event-ID is told again), its data what
 * was lost and where the stream goes on.
 */
export function gapEvent(after: number, firstKept: number, limits: Pick<Limits, 'eventsKeepDays' | 'eventsKeepCount'>): string {
  const gap: EventGap = {
    after,
    firstKept,
    message:
      `events ${after + 1} to ${firstKept - 1} were pruned before this stream could send them (the orchestrator keeps ${limits.eventsKeepCount} ` +
      `events, for at most ${limits.eventsKeepDays} days): those of them it would have sent are lost; it goes on from event ${firstKept}`,
  };
  return `event: gap\ndata: ${JSON.stringify(gap)}\n\n`;
}

/** `exactStart`: afterId is an event id the client had (or the last recorded), not a time's start, so events pruned after it were missed */
export async function followEvents(ctx: Ctx, reply: FastifyReply, filter: PageFilter, afterId: number, exactStart: boolean): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  const gone = new AbortController();
  res.on('close', () => gone.abort());
  const signal = AbortSignal.any([gone.signal, ctx.closing]);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
  res.flushHeaders();
  let last = afterId;
  let gapsMatter = exactStart;
  let sending = false;
  let more = false;
  const send = async () => {
    // one sender at a time; an event that comes while it writes is read by the loop it is in
    more = true;
    if (sending) return;
    sending = true;
    try {
      while (more && !signal.aborted) {
        more = false;
        for (;;) {
          const firstKept = ctx.db.q.firstKeptEventId.get()!.id;
          if (gapsMatter && firstKept > last + 1) {
            if (!res.write(gapEvent(last, firstKept, ctx.config.limits))) await once(res, 'drain', { signal });
            last = firstKept - 1;
          }
          gapsMatter = true;
          const rows = ctx.db.q.eventsPage({ ...filter, afterId: last, limit: BATCH });
          if (!rows.length) break;
          last = rows[rows.length - 1]!.id;
          const text = rows.map((r) => `id: ${r.id}\ndata: ${JSON.stringify(toEvent(r))}\n\n`).join('');
          if (!res.write(text)) await once(res, 'drain', { signal });
          if (rows.length < BATCH) break;
        }
      }
    } catch (err) {
      if (!signal.aborted) ctx.log.warn({ err }, 'an event stream failed');
      res.destroy();
    } finally {
      sending = false;
    }
  };
  // after the code that recorded it has returned: inside a transaction that may yet roll back,
  // the row is not the cluster's yet; and a burst of events is read in one go
  let soon: NodeJS.Immediate | undefined;
  const onEvent = () => {
    soon ??= setImmediate(() => {
      soon = undefined;
      void send();
    });
  };
  const heartbeat = setInterval(() => res.write(': still here\n\n'), HEARTBEAT_MS);
  ctx.bus.on('event', onEvent);
  try {
    await send();
    if (!signal.aborted) await once(signal, 'abort');
  } finally {
    ctx.bus.off('event', onEvent);
    clearInterval(heartbeat);
    clearImmediate(soon);
    res.end();
  }
}
