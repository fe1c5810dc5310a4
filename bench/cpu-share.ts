/**
 * Where the machine's CPU went during a benchmark phase: the jobs (the nodes' control groups, where
 * `criu restore` runs too), godwit's control plane (orchestrator and agents, from /proc), this
 * benchmark process itself, and the rest of the machine (the CRIU dumps and page servers the agents
 * ran, and whatever else runs on it). On this 2-core machine
 * the nodes' quotas add up to every core, so every CPU-second spent outside the nodes is one the
 * jobs could not have, and the makespan grows by it.
 */
import { groupCpuNs, hostBusyNs } from '../agent/src/load.js';
import { cpuTicks, TICKS_PER_S } from '../agent/src/proc-load.js';
import type { ClusterInfo } from '../cli/src/cluster/index.js';

interface Sample {
  at: number;
  machineS: number;
  jobsS: number;
  components: Map<string, number>;
  benchS: number;
}

export function cpuSample(info: ClusterInfo): Sample {
  const self = process.cpuUsage();
  return {
    at: Date.now(),
    machineS: hostBusyNs() / 1e9,
    jobsS: info.nodes.reduce((sum, n) => sum + (groupCpuNs(n.cgroups) ?? 0) / 1e9, 0),
    // an agent's own time, not its children's: its keepers' programs are the node's group's
    components: new Map(info.state.components.map((c) => [c.role === 'agent' ? `agent ${c.name}` : c.name, cpuTicks(c.pid) / TICKS_PER_S])),
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
