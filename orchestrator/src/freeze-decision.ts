/**
 * What to do about memory, from one look at the cluster (MOSIX's automatic freezing): a pure
 * function, so each rule is tested on its own.
 *
 * - A node is short when its free memory is below memLowPercent of its memory (its control
 *   group's limit where it has one).
 * - On a short node, the process with the most resident memory goes first (ties: the most recent
 *   one): one freeze or move then frees the most, so the fewest programs stop. It moves to the
 *   node with the most free memory that has room for it; if none has, or it is locked (mosrun -L
 *   forbids automatic moves, not freezing: MOSIX freezes locked processes too), it is frozen where
 *   it is (FRZ A). One action per short node per look: the next look sees its effect reported.
 * - A process marked N (it cannot be frozen) is skipped; the mark goes once its node is not short.
 * - Processes frozen automatically (A) or by expulsion (E) come back, oldest freeze first, after
 *   thawHoldSeconds, to their home node if it has room, else to the node with the most room.
 *   Manually frozen ones (M) never come back by themselves.
 * - Hysteresis: "room" for B bytes means the node keeps at least twice its low mark free with B
 *   added, so a process that comes back does not make its node short again at once, and a moved
 *   process does not make its destination short.
 */
import { type BalancerSettings, sizeInWords } from '@godwit/schemas';

type Settings = Pick<BalancerSettings, 'memLowPercent' | 'thawHoldSeconds'>;

export interface MemNode {
  name: string;
  /** online, with a load report */
  online: boolean;
  /** online and not drained: may take a process */
  usable: boolean;
  memTotalBytes: number;
  memFreeBytes: number;
}

export interface MemProc {
  id: number;
  node: string;
  locked: boolean;
  rssBytes: number;
  /** FRZ N: an automatic freeze was wanted, and it cannot be frozen */
  cannotFreeze: boolean;
}

export interface FrozenProc {
  id: number;
  /** only A and E come back by themselves */
  frz: 'A' | 'E' | 'M';
  home: string;
  /** where its image lies: that node must be online for it to come back */
  imageNode: string;
  imageBytes: number;
  frozenAt: number;
}

export type MemAction =
  | { kind: 'move'; processId: number; from: string; to: string; reason: string }
  | { kind: 'freeze'; processId: number; node: string; reason: string }
  | { kind: 'thaw'; processId: number; to: string; reason: string }
  | { kind: 'unmark'; processId: number; node: string; reason: string };


export const lowMarkBytes = (n: MemNode, s: Settings): number => (n.memTotalBytes * s.memLowPercent) / 100;
export const isShort = (n: MemNode, s: Settings): boolean => n.online && n.memFreeBytes < lowMarkBytes(n, s);
/** whether the node can take `bytes` and keep twice its low mark free (the hysteresis) */
export const hasRoom = (n: MemNode, bytes: number, s: Settings): boolean => n.usable && n.memFreeBytes - bytes >= 2 * lowMarkBytes(n, s);

function shortage(n: MemNode, s: Settings): string {
  return `${n.name} is short of memory: ${sizeInWords(n.memFreeBytes)} free, below ${s.memLowPercent}% of ${sizeInWords(n.memTotalBytes)}`;
}

/** the node with the most free memory that has room for `bytes`, among `names` (any, when absent) */
function roomiest(view: Map<string, MemNode>, bytes: number, s: Settings, except: string, names?: string[]): MemNode | undefined {
  return [...view.values()]
    .filter((n) => n.name !== except && (!names || names.includes(n.name)) && hasRoom(n, bytes, s))
    .sort((a, b) => b.memFreeBytes - a.memFreeBytes || a.name.localeCompare(b.name))[0];
}

export function planMemory(nodes: MemNode[], running: MemProc[], frozen: FrozenProc[], s: Settings, now: number): MemAction[] {
  const actions: MemAction[] = [];
  // the cluster as the actions planned so far will leave it
  const view = new Map(nodes.map((n) => [n.name, { ...n }]));
  // nodes acted on in this look take no process back in it: the next look sees their new state
  const touched = new Set<string>();
  const shift = (name: string, bytes: number) => {
    const n = view.get(name);
    if (n) n.memFreeBytes += bytes;
  };

  for (const n of nodes.filter((x) => isShort(x, s))) {
    const victim = running
      .filter((p) => p.node === n.name && !p.cannotFreeze)
      .sort((a, b) => b.rssBytes - a.rssBytes || b.id - a.id)[0];
    touched.add(n.name);
    if (!victim) continue;
    const to = victim.locked ? undefined : roomiest(view, victim.rssBytes, s, n.name);
    if (to) {
      actions.push({
        kind: 'move', processId: victim.id, from: n.name, to: to.name,
        reason: `${shortage(n, s)}; process ${victim.id} (${sizeInWords(victim.rssBytes)} resident, the most there) moves to ${to.name}, which has ${sizeInWords(to.memFreeBytes)} free`,
      });
      shift(to.name, -victim.rssBytes);
      touched.add(to.name);
    } else {
      const why = victim.locked ? 'it is locked (mosrun -L), so it may not move automatically' : `no other node has room for its ${sizeInWords(victim.rssBytes)}`;
      actions.push({ kind: 'freeze', processId: victim.id, node: n.name, reason: `${shortage(n, s)}; process ${victim.id} (${sizeInWords(victim.rssBytes)} resident, the most there) is frozen: ${why}` });
    }
    shift(n.name, victim.rssBytes);
  }

  for (const p of running.filter((x) => x.cannotFreeze)) {
    const n = view.get(p.node);
    if (n && n.online && !isShort(n, s)) actions.push({ kind: 'unmark', processId: p.id, node: n.name, reason: `${n.name} is no longer short of memory` });
  }

  const due = frozen
    .filter((f) => f.frz !== 'M' && now - f.frozenAt >= s.thawHoldSeconds * 1000 && view.get(f.imageNode)?.online)
    .sort((a, b) => a.frozenAt - b.frozenAt || a.id - b.id);
  for (const f of due) {
    const open = [...view.keys()].filter((name) => !touched.has(name));
    const to = roomiest(view, f.imageBytes, s, '', open.includes(f.home) ? [f.home] : []) ?? roomiest(view, f.imageBytes, s, '', open);
    if (!to) continue;
    touched.add(to.name);
    shift(to.name, -f.imageBytes);
    actions.push({
      kind: 'thaw', processId: f.id, to: to.name,
      reason: `room returned: ${to.name}${to.name === f.home ? ' (its home)' : ''} has ${sizeInWords(to.memFreeBytes + f.imageBytes)} free, room for its ${sizeInWords(f.imageBytes)} image (frozen with FRZ ${f.frz})`,
    });
  }
  return actions;
}
