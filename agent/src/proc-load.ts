/**
 * How each program on this node uses it, for the balancer: CPU time so far and per second now,
 * how much of the time it wanted a CPU, I/O per second and resident memory, summed over its tree
 * (from /proc, without stopping it).
 */
import { readFileSync, readdirSync } from 'node:fs';
import type { AgentProc, ProcLoad } from '@godwit/schemas';
import { pidsResidentBytes, treePids } from './preflight.js';
import { GONE, passOver } from './expected-errors.js';
import { statField, statFields } from './proc-stat.js';

/** USER_HZ: /proc/PID/stat counts CPU time in these */
export const TICKS_PER_S = 100;

/** CPU time the process used itself (not its children's), in ticks; 0 once it is gone */
export function cpuTicks(pid: number): number {
  try {
    const fields = statFields(pid);
    // utime (field 14) and stime (15)
    return Number(fields[14 - 3]) + Number(fields[15 - 3]);
  } catch (err) {
    passOver(err, GONE);
    return 0;
  }
}

/** seconds since the process started (its start time in /proc/PID/stat, against the uptime) */
function runSeconds(pid: number): number {
  try {
    const start = statField(pid, 22) / TICKS_PER_S;
    const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    return Math.max(0, uptime - start);
  } catch (err) {
    passOver(err, GONE);
    return 0;
  }
}

/**
 * Nanoseconds its threads waited to run while runnable: for a CPU quota's throttling too. With
 * the CPU time, the time it wanted a CPU, however crowded its node: a busy loop sharing a node
 * with eleven others uses a twelfth of it, and waits the rest. 0 where the kernel keeps no
 * schedstat (then only CPU time shows demand).
 */
function runDelayNs(pid: number): number {
  let sum = 0;
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      try {
        sum += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[1]) || 0;
      } catch (err) {
        passOver(err, GONE); // the thread ended while we looked
      }
    }
  } catch (err) {
    passOver(err, GONE); // the process ended, or no schedstat
  }
  return sum;
}

function ioBytes(pid: number): number {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    return Number(/rchar: (\d+)/.exec(io)?.[1] ?? 0) + Number(/wchar: (\d+)/.exec(io)?.[1] ?? 0);
  } catch (err) {
    passOver(err, GONE);
    return 0;
  }
}

export function createProcMeter() {
  const last = new Map<string, { at: number; ticks: number; delayNs: number; io: number }>();
  return (procs: AgentProc[]): ProcLoad[] => {
    const now = Date.now();
    const seen = new Set<string>();
    const out = procs.filter((p) => p.state === 'running').map((p) => {
      const key = `${p.id}.${p.epoch}`;
      seen.add(key);
      const pids = treePids(p.rootPid);
      const tree = pids.map((pid) => ({ pid, ticks: cpuTicks(pid), delayNs: runDelayNs(pid) }));
      const ticks = tree.reduce((sum, t) => sum + t.ticks, 0);
      const delayNs = tree.reduce((sum, t) => sum + t.delayNs, 0);
      const io = pids.reduce((sum, pid) => sum + ioBytes(pid), 0);
      const before = last.get(key);
      last.set(key, { at: now, ticks, delayNs, io });
      const seconds = Math.max(0.001, before ? (now - before.at) / 1000 : runSeconds(p.rootPid));
      const since = before ?? { ticks: 0, delayNs: 0, io: 0 };
      // The first look at a run (just launched or restored) measures each process over its own
      // life so far: a restored program's process comes to be only at the end of `criu restore`,
      // well after its tree's root, and measured over the root's life it would look idle.
      // Afterwards, over the time since the last look; a thread that ended takes its counts
      // along, so the tree's sum may drop.
      let cpuRate = 0;
      let waitRate = 0;
      if (before) {
        cpuRate = (ticks - since.ticks) / TICKS_PER_S / seconds;
        waitRate = Math.max(0, (delayNs - since.delayNs) / 1e9 / seconds);
      } else {
        for (const t of tree) {
          const age = Math.max(0.001, runSeconds(t.pid));
          cpuRate += t.ticks / TICKS_PER_S / age;
          waitRate += t.delayNs / 1e9 / age;
        }
      }
      return {
        id: p.id,
        epoch: p.epoch,
        cpuSeconds: ticks / TICKS_PER_S,
        cpuRate: Math.round(cpuRate * 100) / 100,
        cpuDemand: Math.round((cpuRate + waitRate) * 100) / 100,
        ioBytesPerS: Math.round((io - since.io) / seconds),
        rssBytes: pidsResidentBytes(pids),
      };
    });
    for (const key of last.keys()) if (!seen.has(key)) last.delete(key);
    return out;
  };
}
