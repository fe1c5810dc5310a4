/** mosmon's data: the orchestrator's nodes and processes, read again and again until stopped. */
import type { Node, Process } from '@godwit/schemas';
import type { Snapshot } from './views.js';

/** What the watcher needs of the REST client. */
export interface ClusterReader {
  listNodes(): Promise<Node[]>;
  listProcesses(opts: { all?: boolean }): Promise<Process[]>;
}

export type Reading = { ok: true; snapshot: Snapshot } | { ok: false; reason: string };

/**
 * Reads the cluster now and then every `intervalMs` after the previous read ended, so a slow
 * orchestrator never has two reads from us at once. A failed read is reported and retried on
 * the same schedule, which is how mosmon notices the orchestrator coming back. Returns `stop`.
 */
export function watchCluster(client: ClusterReader, intervalMs: number, onReading: (r: Reading) => void): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const readOnce = async () => {
    let r: Reading;
    try {
      // all: an administrator sees everyone's processes; the orchestrator gives anyone else their own
      const [nodes, processes] = await Promise.all([client.listNodes(), client.listProcesses({ all: true })]);
      r = { ok: true, snapshot: { nodes, processes, at: Date.now() } };
    } catch (err) {
      r = { ok: false, reason: err instanceof Error ? err.message : String(err) };
    }
    if (stopped) return;
    onReading(r);
    timer = setTimeout(() => void readOnce(), intervalMs);
  };
  void readOnce();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
