/**
 * What TLS costs a full-copy move: godwit moving a program of 1 GiB between two nodes of a local
 * cluster with TLS (the default: images over HTTPS, pages through CRIU's page server with
 * --tls) and of a clear-text one (`cluster up --no-tls`), in the same run, one cluster after the
 * other. Each move starts after warmMemory (bench-cluster.ts) of three times the program's size.
 * Prints the stopped time, the total time and the rate of each, medians of the runs.
 *
 *   npm run bench:tls -- [--sizes 1024] [--runs 3] [--id 43]
 */
import { parseArgs } from 'node:util';
import type { Migration } from '@godwit/schemas';
import { openBenchCluster, warmMemory } from './bench-cluster.js';
import { markdownTable, median } from './table.js';

const { values } = parseArgs({
  options: { sizes: { type: 'string', default: '1024' }, runs: { type: 'string', default: '3' }, id: { type: 'string', default: '43' } },
});
const sizes = values.sizes.split(',').map(Number);
const runs = Number(values.runs);

interface Sample { stoppedMs: number; totalMs: number; bytes: number }

async function moves(tls: boolean): Promise<Map<number, Sample[]>> {
  const c = await openBenchCluster(Number(values.id), 6144, 2, 1, { tls });
  const samples = new Map<number, Sample[]>();
  try {
    for (const mib of sizes) {
      for (let i = 0; i < runs; i++) {
        await warmMemory(3 * mib);
        const p = await c.start(mib);
        const m = await c.call<Migration>('POST', `/v1/processes/${p.id}/migrate`, { to: c.dst.name, strategy: 'full' });
        await c.stop(p.id);
        samples.set(mib, [...(samples.get(mib) ?? []), { stoppedMs: m.stoppedMs!, totalMs: m.totalMs!, bytes: m.bytes! }]);
      }
      process.stderr.write(`bench: ${mib} MiB with TLS ${tls ? 'on' : 'off'} done\n`);
    }
  } finally {
    await c.close();
  }
  return samples;
}

async function main(): Promise<void> {
  const on = await moves(true);
  const off = await moves(false);
  const rows: string[][] = [];
  for (const mib of sizes) {
    for (const [label, xs] of [['on', on.get(mib)!], ['off', off.get(mib)!]] as const) {
      const total = median(xs.map((x) => x.totalMs));
      const bytes = median(xs.map((x) => x.bytes));
      rows.push([`${mib} MiB`, label, `${median(xs.map((x) => x.stoppedMs))}`, `${total}`, (bytes / total / 1e6).toFixed(2)]);
    }
  }
  const head = ['program', 'TLS', 'stopped ms', 'total ms', 'GB/s (images / total)'];
  process.stdout.write(`Full-copy migration between two nodes, TLS on and off, median of ${runs} runs each\n\n${markdownTable(head, rows)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  process.exit(1);
});
