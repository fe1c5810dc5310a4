/** `godwit cluster status`: the local cluster's components and nodes. */
import type { StatusReport } from '../cluster/index.js';
import { renderTable } from './format.js';

export function renderStatus(s: StatusReport): string {
  if (!s.id) return `no cluster is up (no ${s.statePath})\n`;
  const o = s.orchestrator;
  const lines = [
    `cluster ${s.id}: ${s.up ? (s.ready ? 'up' : 'starting or broken') : 'down (its state file is left: `godwit cluster down`)'}${s.holderPid ? `, held by \`cluster up\` pid ${s.holderPid}` : ''}`,
    `orchestrator: ${o?.url ?? '?'}  pid ${o?.pid ?? '-'} ${o?.alive ? 'running' : 'not running'}${o && !o.reachable && o.error ? ` (${o.error})` : ''}`,
    '',
  ];
  const table = renderTable(
    ['NODE', 'ADDRESS', 'AGENT PID', 'PROCESS', 'STATE'],
    s.nodes.map((n) => [n.name, n.address, n.pid === null ? '-' : String(n.pid), n.alive ? 'running' : 'dead', n.state]),
  );
  return lines.join('\n') + table;
}
