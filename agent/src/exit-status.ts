/**
 * How a program ended, from what its keeper recorded. The keeper reaps the program's init, tini,
 * which exits with 128+N when the program dies of signal N: that is read as the signal death it
 * was, so the API, mosps and mosrun's status say `killed(SIGX)` however the program died. (A
 * program that itself exits with 128+N reads the same, as a shell's `$?` does.) The keeper also
 * counts the OOM kills in the run's own memory group (keeper/run-cgroup.h): passed on as they are,
 * for the orchestrator to say whether the node's memory limit killed it.
 */
import { signalName } from './signals.js';

/** the keeper's exit frame: code -1 when its child died of a signal, signal 0 when it exited; oomKills -1 (or absent) when not counted */
export interface KeeperExit {
  code: number;
  signal: number;
  oomKills?: number;
}

/** Linux's highest signal number (SIGRTMAX) */
const LAST_SIGNAL = 64;

function deathOf(raw: KeeperExit): { code: number | null; signal: string | null } {
  if (raw.signal > 0) return { code: null, signal: signalName(raw.signal) };
  const n = raw.code - 128;
  if (n >= 1 && n <= LAST_SIGNAL) return { code: null, signal: signalName(n) };
  return { code: raw.code >= 0 ? raw.code : null, signal: null };
}

export function programExit(raw: KeeperExit): { code: number | null; signal: string | null; oomKills?: number } {
  const counted = raw.oomKills !== undefined && raw.oomKills >= 0;
  return { ...deathOf(raw), ...(counted ? { oomKills: raw.oomKills } : {}) };
}
