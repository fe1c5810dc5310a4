/** Processes by PID: whether one is (still) the one we started, and stopping it. No external program. */
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isErrno } from '../errors.js';

/** Field 22 of /proc/PID/stat (start time in clock ticks), with the state letter; null when gone. */
function readStat(pid: number): { state: string; startTime: string } | null {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    // the process is gone (ESRCH: it ended while being read)
    if (!isErrno(err, 'ENOENT', 'ESRCH')) throw err;
    return null;
  }
  // comm (field 2) may hold spaces and parentheses: fields after it start past the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0] ?? '?', startTime: rest[19] ?? '' };
}

export function startTime(pid: number): string | null {
  return readStat(pid)?.startTime ?? null;
}

/** Alive and not a zombie; with `since`, also still the process that started then (PIDs are reused). */
export function isAlive(pid: number, since?: string): boolean {
  const st = readStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return since === undefined || st.startTime === since;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

export interface Tracked {
  pid: number;
  startTime: string;
}

/**
 * SIGTERM, then SIGKILL for those still alive after `graceMs`. Only processes that are still the
 * ones recorded are signalled. Returns the PIDs that were alive.
 */
export async function terminate(procs: Tracked[], graceMs: number): Promise<number[]> {
  const alive = procs.filter((p) => isAlive(p.pid, p.startTime));
  for (const p of alive) signal(p.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && alive.some((p) => isAlive(p.pid, p.startTime))) await sleep(50);
  for (const p of alive) if (isAlive(p.pid, p.startTime)) signal(p.pid, 'SIGKILL');
  const killDeadline = Date.now() + 5000;
  while (Date.now() < killDeadline && alive.some((p) => isAlive(p.pid, p.startTime))) await sleep(50);
  return alive.map((p) => p.pid);
}

export function kill(pid: number): void {
  signal(pid, 'SIGKILL');
}

/**
 * Every process in the network namespace bound at `nsPath` (/run/netns/NAME): a daemon that
 * outlived its agent there (a page server of a move that failed as its agent was stopped) is
 * in no control group of the cluster, but it keeps its node's namespace.
 */
export function pidsInNetns(nsPath: string): Tracked[] {
  const ns = `net:[${fs.statSync(nsPath).ino}]`;
  return fs.readdirSync('/proc').flatMap((entry) => {
    if (!/^[0-9]+$/.test(entry)) return [];
    try {
      if (fs.readlinkSync(`/proc/${entry}/ns/net`) !== ns) return [];
      const since = startTime(Number(entry));
      return since === null ? [] : [{ pid: Number(entry), startTime: since }];
    } catch (err) {
      // it ended while being looked at, or it is not ours to see (outside this container's
      // user namespace: none of the cluster's)
      if (!isErrno(err, 'ENOENT', 'ESRCH', 'EACCES')) throw err;
      return [];
    }
  });
}
