/** The nodes: `godwit nodes`' table, mossetpe's list, mosctl whois's answer. */
import type { Node } from '@godwit/schemas';
import { numberNodes } from '../node-numbers.js';
import { formatBytes, renderTable } from './format.js';

function cpuText(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

export function renderNodesTable(nodes: Node[]): string {
  const rows = numberNodes(nodes).map(({ number, node: n }) => [
    String(number),
    n.name,
    n.drained ? `${n.state}, drained` : n.state,
    n.url,
    n.load ? `${cpuText(n.load.cpuUsed)}/${cpuText(n.load.cpuCapacity)}` : '-',
    n.load ? formatBytes(n.load.memFreeBytes) : '-',
    n.load ? String(n.load.running) : '-',
  ]);
  return renderTable(['NO', 'NAME', 'STATE', 'ADDRESS', 'CPU', 'MEM FREE', 'RUNNING'], rows);
}

/** `godwit nodes -V`: what each node's agent found of its machine as it started */
export function renderNodesPlatform(nodes: Node[]): string {
  const rows = numberNodes(nodes).map(({ number, node: n }) => {
    const p = n.platform;
    if (!p) return [String(number), n.name, '-', '-', '-', '-', '-'];
    return [String(number), n.name, p.cpuModel, p.cpuFeatureHash, p.kernel, p.criuVersion, p.cpuMasked.length ? p.cpuMasked.join(',') : '-'];
  });
  return renderTable(['NO', 'NAME', 'CPU MODEL', 'FEATURE HASH', 'KERNEL', 'CRIU', 'MASKED'], rows);
}

/** MOSIX's node-list format: node number, address, then godwit's name for the node. */
export function renderNodeList(nodes: Node[]): string {
  return numberNodes(nodes).map((n) => `${n.number} ${n.address} ${n.name}\n`).join('');
}

/** MOSIX whois: a number gives the node's name; a name or an address gives its number. */
export function renderWhois(n: { number: number; name: string }, spec: string): string {
  return `${/^[0-9]+$/.test(spec) ? n.name : n.number}\n`;
}
