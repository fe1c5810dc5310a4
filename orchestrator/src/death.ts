/**
 * Why a program died, from how its epoch ended on `node`: the signal that ended it (by name), and
 * whether the node's memory limit did it. The kernel's OOM killer ends its victim with SIGKILL and
 * counts the kill in the victim's control group, the run's own (the agent's run-cgroup.ts): a
 * SIGKILL with a kill counted there is the memory limit's, any other SIGKILL someone's. A program
 * that outlived an OOM kill of one of its processes ended otherwise, and says so too.
 *
 * The run's group is the epoch's: a move ends it, and the next epoch counts from zero. So the
 * kills counted in the epochs a move ended are kept with the process (`earlier`), and the same
 * rule holds over the whole run: a program whose child the limit killed on node2, and which
 * passed that SIGKILL on after it moved (as a shell's `exit $?` does), was killed by node2's limit.
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

/** OOM kills counted in the epochs before this one, and the node of the last that counted one */
export interface EarlierOomKills {
  kills: number;
  node: string | null;
}

/** null: it exited by itself, nothing killed */
export function howDied(end: EpochDeath, epochNode: string, earlier?: EarlierOomKills): Died | null {
  const here = end.oomKills ?? 0;
  const kills = here + (earlier?.kills ?? 0);
  const node = here === 0 && earlier?.node ? earlier.node : epochNode;
  if (end.signal === 'SIGKILL' && kills > 0) return { signal: end.signal, oomKilled: true, reason: `killed by ${node}'s memory limit (OOM)` };
  if (end.signal) {
    const also = kills > 0 ? `; ${node}'s memory limit (OOM) had killed ${processes(kills)}` : '';
    return { signal: end.signal, oomKilled: false, reason: `killed by ${end.signal}${also}` };
  }
  if (kills > 0) return { oomKilled: false, reason: `exited with status ${end.code ?? '?'} after ${node}'s memory limit (OOM) killed ${processes(kills)}` };
  return null;
}
