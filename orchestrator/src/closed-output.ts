/**
 * The output streams of a process whose reader is gone (mosrun's stdout closed: `mosrun yes |
 * head -1`). Recorded with the process, told to the agent where it runs, and given to every
 * restore after, so the program's next write there gets SIGPIPE wherever it runs, as in a local
 * pipeline (the keeper closes its read end of that pipe).
 */
import type { OutputStream } from '@godwit/schemas';
import type { Ctx } from './context.js';
import type { ProcessRow } from './db/index.js';
import type { Migrator } from './migration/migrator.js';

const STREAMS: readonly OutputStream[] = ['stdout', 'stderr'];
/** how long a close waits for a move under way to end, to reach the program where it lands */
const SETTLE_MS = 120_000;

export function closedStreams(row: Pick<ProcessRow, 'closed_output'>): OutputStream[] {
  const named = row.closed_output.split(',');
  return STREAMS.filter((s) => named.includes(s));
}

/** what a restore of the process is told: nothing when all its streams have readers */
export function restoreStreams(row: Pick<ProcessRow, 'closed_output'>): { closedOutput?: OutputStream[] } {
  const closed = closedStreams(row);
  return closed.length ? { closedOutput: closed } : {};
}

/** Records that `stream` has no reader, and tells the keeper where the program runs now. */
export async function closeOutput(ctx: Ctx, migrator: Migrator, row: ProcessRow, stream: OutputStream): Promise<void> {
  const closed = [...new Set([...closedStreams(row), stream])];
  ctx.db.q.setClosedOutput.run({ id: row.id, closed_output: closed.join(',') });
  // a restore that began before the record above did not see it: tell where it landed
  if (row.state === 'migrating') await migrator.settled(row.id, SETTLE_MS, ctx.closing);
  const now = ctx.db.q.processById.get(row.id);
  // a frozen one learns it at its restore; an ended one needs it no more
  if (now?.state !== 'running') return;
  try {
    await ctx.agent(now.node).closeOutput(now.id, closed);
  } catch (err) {
    ctx.log.warn({ err, id: now.id, node: now.node }, `could not tell ${now.node} that process ${now.id}'s ${stream} has no reader`);
  }
}
