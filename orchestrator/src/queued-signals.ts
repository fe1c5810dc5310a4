/**
 * Signals to a frozen process. Nothing of it runs to take one (MOSIX: frozen processes do not
 * respond to non-fatal signals), so each waits in the database, as a stopped program's pending
 * signal waits in its kernel, and is delivered in the order sent right after the restore that
 * continues it, before anything else may move it. Only SIGKILL ends a frozen process at once.
 */
import type { SignalQueued, SignalRequest } from '@godwit/schemas';
import type { Ctx } from './context.js';
import type { ProcessRow } from './db/index.js';

export function queueSignal(ctx: Ctx, proc: ProcessRow, signal: SignalRequest['signal'], sender: string): SignalQueued {
  const message = `process ${proc.id} is frozen: ${signal} waits until it continues (\`mosmigrate ${proc.id} continue\`), and reaches it then; SIGKILL ends it now`;
  ctx.db.tx(() => {
    ctx.db.q.queueSignal.run({ process_id: proc.id, signal, sender, queued_at: Date.now() });
    ctx.db.event({ processId: proc.id, node: proc.node, kind: 'signal-queued', message: `${sender} sent ${signal} to process ${proc.id} while it is frozen: it waits until it continues` });
  });
  return { queued: true, message };
}

/**
 * Delivers what waited for the process once it runs again (a continue that failed left it frozen:
 * they wait on); one that cannot be delivered is said and dropped.
 */
export async function deliverQueuedSignals(ctx: Ctx, processId: number): Promise<void> {
  for (const q of ctx.db.q.queuedSignalsOf.all(processId)) {
    const proc = ctx.db.q.processById.get(processId)!;
    if (proc.state !== 'running') return;
    const waited = `${q.sender} sent ${q.signal} to process ${processId} while it was frozen`;
    try {
      await ctx.agent(proc.node).signal(processId, { signal: q.signal as SignalRequest['signal'] });
      ctx.db.tx(() => {
        ctx.db.q.dropQueuedSignal.run(q.id);
        ctx.db.event({ processId, node: proc.node, kind: 'signal', message: `${waited}: delivered now that it runs on ${proc.node}` });
      });
    } catch (err) {
      ctx.db.tx(() => {
        ctx.db.q.dropQueuedSignal.run(q.id);
        ctx.db.event({ processId, node: proc.node, kind: 'signal-failed', message: `${waited}: it could not be delivered on ${proc.node}: ${(err as Error).message}` });
      });
    }
  }
}
