/**
 * What TLS costs a move: godwit moving a program of 1 GiB between two nodes of a local cluster,
 * by full copy and lazily, with TLS (the default: images over HTTPS, pages through CRIU's page
 * server with --tls) and on a clear-text cluster (`cluster up --no-tls`), in the same run, one
 * cluster after the other. Each move starts after warmMemory (bench-cluster.ts). Prints, for
 * each, the stopped time and the transfer rate (a full copy: its images over its total time; a
 * lazy move: the memory that followed over the time from its resume until the destination had
 * the last page), medians of the runs, and TLS on / off ratios; then the CPU time each of CRIU's
 * processes took per GiB moved (criu-cpu.ts), which other work on the machine hardly changes.
 * $GODWIT_CRIU names the CRIU the clusters' agents run (by default the machine's).
 *
 *   npm run bench:tls -- [--sizes 1024] [--runs 3] [--id 43] [--tls on,off] [--moves full,lazy]
 */
import { parseArgs } from 'node:util';
import type { Migration } from '@godwit/schemas';
import { openBenchCluster, warmMemory } from './bench-cluster.js';
import { type CriuRole, watchCriuCpu } from './criu-cpu.js';
import { markdownTable, median } from './table.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1024' }, runs: { type: 'string', default: '3' }, id: { type: 'string', default: '43' },
    tls: { type: 'string', default: 'on,off' }, moves: { type: 'string', default: 'full,lazy' },
  },
});
const sizes = values.sizes.split(',').map(Number);
const runs = Number(values.runs);

type Strategy = 'full' | 'lazy';
const STRATEGIES = values.moves.split(',') as Strategy[];
const TLS_MODES = values.tls.split(',').map((m) => m === 'on');
if (STRATEGIES.some((s) => s !== 'full' && s !== 'lazy') || values.tls.split(',').some((m) => m !== 'on' && m !== 'off')) {
  process.stderr.write('bench: --moves takes full and/or lazy, --tls on and/or off\n');
  process.exit(2);
}
interface Sample { stoppedMs: number; bytes: number; ms: number; cpu: Map<CriuRole, number> }
type Samples = Map<string, Sample[]>;
const key = (strategy: Strategy, mib: number) => `${strategy} ${mib}`;

/** what a move's rate is counted over: see the head of this file */
function sampleOf(strategy: Strategy, m: Migration, cpu: Map<CriuRole, number>): Sample {
  if (strategy === 'full') return { stoppedMs: m.stoppedMs!, bytes: m.bytes!, ms: m.totalMs!, cpu };
  const resumedAt = m.steps.find((s) => s.state === 'transferring-memory')?.at;
  if (resumedAt === undefined || m.memoryArrivedAt === null) throw new Error(`lazy move ${m.id} shows no memory transfer: steps ${m.steps.map((s) => s.state).join(', ')}`);
  return { stoppedMs: m.stoppedMs!, bytes: (m.onDemandBytes ?? 0) + (m.backgroundBytes ?? 0), ms: m.memoryArrivedAt - resumedAt, cpu };
}

async function moves(tls: boolean): Promise<Samples> {
  const c = await openBenchCluster(Number(values.id), 6144, 2, 1, { tls });
  const samples: Samples = new Map();
  const move = async (strategy: Strategy, mib: number) => {
    // what a move holds at most at once: the program and its restored copy, and for a full
    // move its images too
    await warmMemory((strategy === 'full' ? 3 : 2) * mib);
    const p = await c.start(mib);
    const watch = watchCriuCpu();
    const m = await c.call<Migration>('POST', `/v1/processes/${p.id}/migrate`, { to: c.dst.name, strategy });
    await c.stop(p.id);
    const cpu = watch.stop();
    if (m.state === 'failed') throw new Error(`${strategy} move of ${mib} MiB with TLS ${tls ? 'on' : 'off'} failed: ${m.reason}`);
    return sampleOf(strategy, m, cpu);
  };
  try {
    // not measured: the first moves after the agents start pay for compiling their code
    for (const strategy of STRATEGIES) await move(strategy, sizes[0]!);
    for (const mib of sizes) {
      for (let i = 0; i < runs; i++) {
        for (const strategy of STRATEGIES) {
          const k = key(strategy, mib);
          samples.set(k, [...(samples.get(k) ?? []), await move(strategy, mib)]);
        }
      }
      process.stderr.write(`bench: ${mib} MiB with TLS ${tls ? 'on' : 'off'} done\n`);
    }
  } finally {
    await c.close();
  }
  return samples;
}

const ROLES: readonly CriuRole[] = ['dump', 'page server', 'restore', 'lazy dump', 'lazy-pages'];

/** each role's CPU seconds per GiB moved, medians of the runs; '-' for a role the move has not */
function cpuCells(xs: Sample[]): string[] {
  return ROLES.map((role) => {
    const perGiB = xs.filter((x) => x.cpu.has(role)).map((x) => x.cpu.get(role)! / (x.bytes / 2 ** 30));
    return perGiB.length ? median(perGiB).toFixed(2) : '-';
  });
}

async function main(): Promise<void> {
  const byMode = new Map<boolean, Samples>();
  for (const tls of TLS_MODES) byMode.set(tls, await moves(tls));
  const med = (s: Samples, strategy: Strategy, mib: number) => {
    const xs = s.get(key(strategy, mib))!;
    return { stoppedMs: median(xs.map((x) => x.stoppedMs)), gbps: median(xs.map((x) => x.bytes / x.ms / 1e6)) };
  };
  const on = byMode.get(true);
  const off = byMode.get(false);
  if (on && off) {
    const rows: string[][] = [];
    for (const mib of sizes) {
      for (const strategy of STRATEGIES) {
        const a = med(on, strategy, mib);
        const b = med(off, strategy, mib);
        rows.push([
          `${mib} MiB`, strategy,
          `${a.stoppedMs}`, `${b.stoppedMs}`, `${a.stoppedMs - b.stoppedMs}`, (a.stoppedMs / b.stoppedMs).toFixed(2),
          a.gbps.toFixed(2), b.gbps.toFixed(2), (a.gbps / b.gbps).toFixed(2),
        ]);
      }
    }
    const head = ['program', 'move', 'stopped ms TLS on', 'stopped ms TLS off', 'on - off ms', 'on / off', 'GB/s TLS on', 'GB/s TLS off', 'on / off'];
    process.stdout.write(
      `Full and lazy migration between two nodes, TLS on and off, median of ${runs} runs each (GB/s: a full copy's images over its total time; a lazy move's memory that followed, from its resume until the last page arrived)\n\n${markdownTable(head, rows)}\n\n`,
    );
  }
  const rows: string[][] = [];
  for (const [tls, samples] of byMode) {
    for (const mib of sizes) {
      for (const strategy of STRATEGIES) {
        const m = med(samples, strategy, mib);
        rows.push([`${mib} MiB`, strategy, tls ? 'on' : 'off', `${m.stoppedMs}`, m.gbps.toFixed(2), ...cpuCells(samples.get(key(strategy, mib))!)]);
      }
    }
  }
  const head = ['program', 'move', 'TLS', 'stopped ms', 'GB/s', ...ROLES.map((r) => `${r} CPU s/GiB`)];
  process.stdout.write(`CPU time of CRIU's processes per GiB moved (utime + stime), medians of ${runs} runs; CRIU: ${process.env.GODWIT_CRIU ?? 'the machine\'s'}\n\n${markdownTable(head, rows)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  process.exit(1);
});
