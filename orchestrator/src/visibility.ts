/**
 * What a user may see: an administrator everything; anyone else their own processes and, of the
 * cluster as a whole, the nodes' totals (load, free memory, programs running) but nothing of
 * another user's processes, as a shared machine shows no one else's programs' details.
 */
import type { BalancerStatus, Node } from '@godwit/schemas';
import type { User } from './auth.js';
import type { Db, ProcessRow } from './db/index.js';

export function visible(row: ProcessRow, user: User): boolean {
  return user.admin || row.owner === user.name;
}

/** whether the user may see the process with godwit id `id` */
function visibleIds(db: Db, user: User): (id: number) => boolean {
  const seen = new Map<number, boolean>();
  return (id) => {
    let ok = seen.get(id);
    if (ok === undefined) {
      const row = db.q.processById.get(id);
      ok = row !== undefined && visible(row, user);
      seen.set(id, ok);
    }
    return ok;
  };
}

/** the nodes with only the user's processes in their loads */
export function nodesSeenBy(db: Db, user: User, nodes: Node[]): Node[] {
  if (user.admin) return nodes;
  const mine = visibleIds(db, user);
  return nodes.map((n) => (n.load?.procs ? { ...n, load: { ...n.load, procs: n.load.procs.filter((p) => mine(p.id)) } } : n));
}

/** the balancer's settings, and only its decisions about the user's processes */
export function balancerSeenBy(db: Db, user: User, status: BalancerStatus): BalancerStatus {
  if (user.admin) return status;
  const mine = visibleIds(db, user);
  return { ...status, decisions: status.decisions.filter((d) => mine(d.processId)) };
}
