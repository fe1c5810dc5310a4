/**
 * How a dumped program's run ends at its source: the tree is killed (marked dumped beforehand, for
 * the output's end frame), its keeper records that, and a stand-in takes its home PID.
 */
import type { HomePid } from '@godwit/schemas';
import type { LifecycleContext } from './lifecycle-deps.js';
import { waitFor } from './wait.js';

/** Waits for the keeper of the tree killed after its dump to record that and close the epoch's output. */
export async function awaitDumpedEnd({ procs }: LifecycleContext, id: number, epoch: number): Promise<void> {
  await waitFor(() => (procs.epochInfo(id, epoch)?.state === 'dumped' ? true : undefined), {
    timeoutMs: 10_000,
    // the source's copy of a moved program is released only then
    intervalMs: 1,
    what: `the keeper of process ${id} to see it stop after the dump`,
  });
}

/** the program's first run, whose PID is its home PID, ended here after a dump: a stand-in takes the PID */
export async function keepHomePid(
  { procs, deputies }: LifecycleContext,
  id: number,
  epoch: number,
  pid: number | null,
): Promise<{ homePid: HomePid } | Record<string, never>> {
  const account = procs.meta(id)?.account;
  if (!deputies || epoch !== 0 || pid === null || account === undefined) return {};
  return { homePid: await deputies.keepHomePid(id, pid, account) };
}
