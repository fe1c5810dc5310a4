/** `godwit why`: every reason a process cannot move now. */
import type { WhyResult } from '@godwit/schemas';

export function renderWhy(w: WhyResult): string {
  const list = (rs: string[]) => rs.map((r) => `  - ${r}\n`).join('');
  const auto = w.notAutomatically.length ? `the balancer leaves it where it is:\n${list(w.notAutomatically)}` : '';
  const ruledOut = w.ruledOut.length ? `nodes it cannot go to:\n${list(w.ruledOut.map((r) => `${r.node}: ${r.reason}`))}` : '';
  if (w.movable) return `process ${w.processId} can move: nothing is in the way of mosmigrate\n${ruledOut}${auto}`;
  return `process ${w.processId} cannot move now:\n${list(w.reasons)}${ruledOut}${auto}`;
}
