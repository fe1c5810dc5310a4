/** MOSIX's `mosctl status` block: one node's state as `key: value` lines. */
import type { Node, Process } from '@godwit/schemas';
import type { NumberedNode } from './node-numbers.js';
import { formatBytes } from './views/format.js';

export interface NodeStatus {
  number: number;
  name: string;
  address: string;
  state: Node['state'];
  drained: boolean;
  /** whether programs may start or move here */
  accepts: boolean;
  /** CPUs in use over the last second; null before its first report */
  load: number | null;
  cpus: number | null;
  /** godwit programs running there */
  running: number | null;
  /** the caller's visible processes frozen there */
  frozen: number;
  memFreeBytes: number | null;
  memTotalBytes: number | null;
}

export function nodeStatus(n: NumberedNode, procs: readonly Process[]): NodeStatus {
  const load = n.node.load;
  return {
    number: n.number,
    name: n.name,
    address: n.address,
    state: n.node.state,
    drained: n.node.drained,
    accepts: n.node.state === 'online' && !n.node.drained,
    load: load ? load.cpuUsed : null,
    cpus: load ? load.cpuCapacity : null,
    running: load ? load.running : null,
    frozen: procs.filter((p) => p.state === 'frozen' && p.node === n.name).length,
    memFreeBytes: load ? load.memFreeBytes : null,
    memTotalBytes: load ? load.memTotalBytes : null,
  };
}

const round = (v: number) => String(Math.round(v * 100) / 100);

export function renderNodeStatus(s: NodeStatus): string {
  const status = s.state === 'offline' ? 'Not responding (its agent is offline)' : s.drained ? 'Running, drained (mosctl undrain lets programs in again)' : 'Running Normally';
  const accept = s.accepts ? 'Yes, will welcome processes from here' : s.state === 'offline' ? 'No: its agent is offline' : 'No: drained, nothing new starts or moves here';
  const lines = [
    `Node: ${s.number} ${s.name} (${s.address})`,
    `Status: ${status}`,
    `Load: ${s.load === null ? 'unknown (no report yet)' : `${round(s.load)} (equivalent to about ${round(s.load)} CPU processes)`}`,
    `CPUS: ${s.cpus === null ? 'unknown' : round(s.cpus)}`,
    `Frozen: ${s.frozen}`,
    `Avail: ${s.accepts ? 'YES' : 'NO'}`,
    `Procs: ${s.running === null ? 'unknown' : `Running ${s.running} godwit processes`}`,
    `Accept: ${accept}`,
    `Memory: ${s.memFreeBytes === null || s.memTotalBytes === null ? 'unknown' : `Available ${formatBytes(s.memFreeBytes)}/${formatBytes(s.memTotalBytes)}`}`,
  ];
  return `${lines.join('\n')}\n`;
}
