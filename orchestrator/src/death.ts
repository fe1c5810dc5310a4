/**
 * Why a program died, from how its epoch ended on `node`: the signal that ended it (by name), and
 * whether the node's memory limit did it. The kernel's OOM killer ends its victim with SIGKILL and
 * counts the kill in the victim's control group, the run's own (the agent's run-cgroup.ts): a
 * SIGKILL with a kill counted there is the memory limit's, any other SIGKILL someone's. A program
 * that outlived an OOM kill of one of its processes ended otherwise, and says so too.
 */
import type { Died } from '@godwit/schemas';

export interface EpochDeath {
  code: number | null;
  signal: string | null;
  /** OOM kills counted in the run's group; absent when not counted */
  oomKills?: number;
}

function processes(n: number): string {
  return n === 1 ? 'one of its processes' : `${n} of its processes`;
}

/** null: it exited by itself, nothing killed */
export function howDied(end: EpochDeath, node: string): Died | null {
  const kills = end.oomKills ?? 0;
  if (end.signal === 'SIGKILL' && kills > 0) return { signal: end.signal, oomKilled: true, reason: `killed by ${node}'s memory limit (OOM)` };
  if (end.signal) {
    const also = kills > 0 ? `; ${node}'s memory limit (OOM) had killed ${processes(kills)}` : '';
    return { signal: end.signal, oomKilled: false, reason: `killed by ${end.signal}${also}` };
  }
  if (kills > 0) return { oomKilled: false, reason: `exited with status ${end.code ?? '?'} after ${node}'s memory limit (OOM) killed ${processes(kills)}` };
  return null;
}
