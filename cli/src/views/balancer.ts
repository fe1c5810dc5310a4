/** mosctl's answers about the balancer and a drained node. */
import type { BalancerSettings, BalancerStatus, DrainResult } from '@godwit/schemas';

export function renderDrain(r: DrainResult): string {
  const lines = [`node ${r.node} is drained: nothing new starts or moves there`];
  for (const m of r.moved) lines.push(`  process ${m.processId} moved to ${m.to}`);
  for (const f of r.frozen) lines.push(`  process ${f.processId} frozen there (FRZ E): ${f.reason}`);
  for (const f of r.failed) lines.push(`  process ${f.processId} still runs there: ${f.reason}`);
  return `${lines.join('\n')}\n`;
}

export function renderBalancerSettings(s: BalancerSettings): string {
  return `balancer ${s.enabled ? 'on' : 'off'}: looks every ${s.intervalMs / 1000} s; moves processes with at least ${s.minCpuSeconds} s of CPU, up to ${s.maxMoves} at once; a process that moved stays ${s.holdSeconds} s
automatic freezing ${s.autoFreeze ? 'on' : 'off'}: a node with less than ${s.memLowPercent}% of its memory free is short; its largest process moves away, or else is frozen (FRZ A); processes frozen with A or E come back after ${s.thawHoldSeconds} s, once a node has room\n`;
}

export function renderBalancerStatus(st: BalancerStatus): string {
  const moves = st.decisions.map((d) => `  ${new Date(d.at).toISOString()} process ${d.processId} ${d.from} -> ${d.to}: ${d.outcome} (${d.reason})\n`);
  return `${renderBalancerSettings(st.settings)}${moves.length ? `latest moves:\n${moves.join('')}` : 'no moves yet\n'}`;
}
