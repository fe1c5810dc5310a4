/** How the benchmarks print their figures: medians, their ranges, and Markdown tables. */

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const figure = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));

/** the median with the range the samples spanned: `41 (38-52)` */
export const spread = (xs: number[]) => `${figure(median(xs))} (${figure(Math.min(...xs))}-${figure(Math.max(...xs))})`;

export function markdownTable(head: string[], rows: string[][]): string {
  return [head, head.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

/** how long run takes, in ms */
export async function timed(run: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
