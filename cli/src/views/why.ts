/** `godwit why` and `mosmigrate --dry-run`: every reason a process cannot move now, and what its move would carry. */
import type { CarryPlan, WhyResult } from '@godwit/schemas';
import { formatBytes } from './format.js';

/** the files a move would take along, then those that stay, each with its size and why */
function renderFiles(c: CarryPlan): string {
  const moving = c.files.filter((f) => f.fate !== 'stays');
  const staying = c.files.filter((f) => f.fate === 'stays');
  const line = (f: CarryPlan['files'][number]) => {
    const sparse = f.allocatedBytes < f.apparentBytes ? ` (sparse: ${formatBytes(f.apparentBytes)} long)` : '';
    const size = f.kind === 'file' || f.kind === 'mapped' || f.kind === 'deleted' ? ` ${formatBytes(f.allocatedBytes)}${sparse}` : '';
    return `  ${f.path} [${f.kind}]${size}: ${f.why}\n`;
  };
  const head = `a move would carry ${formatBytes(c.carriedBytes)} of files (limit ${formatBytes(c.limitBytes)})`;
  return `${head}${moving.length ? ':\n' : '\n'}${moving.map(line).join('')}${staying.length ? `files that stay:\n${staying.map(line).join('')}` : ''}`;
}

export function renderWhy(w: WhyResult): string {
  const list = (rs: string[]) => rs.map((r) => `  - ${r}\n`).join('');
  const auto = w.notAutomatically.length ? `the balancer leaves it where it is:\n${list(w.notAutomatically)}` : '';
  const ruledOut = w.ruledOut.length ? `nodes it cannot go to:\n${list(w.ruledOut.map((r) => `${r.node}: ${r.reason}`))}` : '';
  const files = w.carry ? renderFiles(w.carry) : '';
  const where = w.to ? ` to ${w.to}` : '';
  const how = w.strategy ? `it would move ${w.strategy.strategy === 'full' ? 'by full copy' : 'lazily'}: ${w.strategy.reason}\n` : '';
  if (w.movable) return `process ${w.processId} can move${where}: nothing is in the way of mosmigrate\n${how}${files}${ruledOut}${auto}`;
  return `process ${w.processId} cannot move${where} now:\n${list(w.reasons)}${files}${ruledOut}${auto}`;
}
