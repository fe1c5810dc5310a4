/**
 * Where the machine's CPU went during a benchmark phase: the jobs (the nodes' control groups, where
 * `criu restore` runs too), godwit's control plane (orchestrator and agents, from /proc), this
 * benchmark process itself, and the rest of the machine (the CRIU dumps and page servers the agents
 * ran, and whatever else runs on it). On this 2-core machine
 * the nodes' quotas add up to every core, so every CPU-second spent outside the nodes is one the
 * jobs could not have, and the makespan grows by it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClusterInfo } from '../cli/src/cluster/index.js';

/** USER_HZ: /proc counts CPU time in these */
const TICKS_PER_S = 100;

interface Sample {
  at: number;
  machineS: number;
  jobsS: number;
  components: Map<string, number>;
  benchS: number;
}

/**
 * CPU seconds a process used itself: not its children's (an agent's are its keepers, whose
 * programs the node's group counts already)
 */
function processSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop()!.split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_S;
  } catch {
    return 0;
  }
}

function machineSeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // busy: all but idle and iowait
  return (f.reduce((a, b) => a + b, 0) - f[3]! - f[4]!) / TICKS_PER_S;
}

function groupSeconds(dirs: string[]): number {
  for (const dir of dirs) {
    try {
      return Number(readFileSync(join(dir, 'cpuacct.usage'), 'utf8')) / 1e9;
    } catch {
      // not the cpuacct hierarchy
    }
    try {
      const usec = /usage_usec (\d+)/.exec(readFileSync(join(dir, 'cpu.stat'), 'utf8'))?.[1];
      if (usec) return Number(usec) / 1e6;
    } catch {
      // no cpu.stat here
    }
  }
  return 0;
}

export function cpuSample(info: ClusterInfo): Sample {
  const self = process.cpuUsage();
  return {
    at: Date.now(),
    machineS: machineSeconds(),
    jobsS: info.nodes.reduce((sum, n) => sum + groupSeconds(n.cgroups), 0),
    components: new Map(info.state.components.map((c) => [c.role === 'agent' ? `agent ${c.name}` : c.name, processSeconds(c.pid)])),
    benchS: (self.user + self.system) / 1e6,
  };
}

/** one line: each consumer's CPU between two samples, as CPUs on average */
export function cpuShares(a: Sample, b: Sample): string {
  const wall = (b.at - a.at) / 1000;
  const cpus = (s: number) => (s / wall).toFixed(2);
  const parts = [...b.components].map(([name, s]) => `${name} ${cpus(s - a.components.get(name)!)}`);
  const godwit = [...b.components].reduce((sum, [name, s]) => sum + s - a.components.get(name)!, 0);
  const machine = b.machineS - a.machineS;
  const jobs = b.jobsS - a.jobsS;
  const bench = b.benchS - a.benchS;
  return `CPUs in use on average over ${wall.toFixed(1)} s: machine ${cpus(machine)}, jobs ${cpus(jobs)}, ` +
    `godwit ${cpus(godwit)} (${parts.join(', ')}), this benchmark ${cpus(bench)}, rest of the machine ${cpus(machine - jobs - godwit - bench)}`;
}
