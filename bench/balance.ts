/**
 * Load-balancing benchmark: 12 CPU-bound jobs of equal work (busyloop) started on node0 of a
 * 3-node local cluster whose nodes have equal CPU capacity; the makespan (first start to last
 * exit) with the balancer against without it, and against the ideal (the total work divided by
 * the cluster's capacity: 12 x one job's time alone on a node / 3). The nodes share this
 * machine's cores, so each gets a third of them (its cgroup quota): three nodes of one CPU each
 * on two cores would promise a capacity the machine does not have, and an ideal no scheduler
 * could reach. The balancer runs with min-cpu=0.1 s, 1% of a job (its default, 5 s, is meant
 * for programs that run far longer than a benchmark can wait for: twelve programs sharing
 * two-thirds of a CPU take 90 s to reach it) and interval=1 s. Its moves and the jobs' ends are
 * printed on stderr, to show where the time goes.
 *
 *   npm run bench:balance -- [--jobs 12] [--iterations 6000000000] [--id 43] [--min-cpu 0.1] [--max-moves 4] [--skip-without]
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { BalancerStatus, Migration, Process } from '@godwit/schemas';
import { REPO, deadline, openBenchCluster, type BenchCluster } from './bench-cluster.js';
import { cpuSample, cpuShares } from './cpu-share.js';
import { markdownTable } from './table.js';

const BUSYLOOP = join(REPO, 'test', 'programs', 'bin', 'busyloop');

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '12' },
    iterations: { type: 'string', default: '6000000000' },
    id: { type: 'string', default: '43' },
    'min-cpu': { type: 'string', default: '0.1' },
    'max-moves': { type: 'string', default: '4' },
    // to study the balancer alone: the run without it takes three times as long
    'skip-without': { type: 'boolean', default: false },
  },
});
const jobs = Number(values.jobs);

/**
 * starts `n` jobs on node0 at once and waits for every one to exit; resolves with the makespan in
 * ms, to the last exit the orchestrator recorded. One look at the list every 250 ms: a look at
 * each job every 20 ms took a fifth of a CPU from the jobs, between this process and the
 * orchestrator answering it.
 */
async function makespan(c: BenchCluster, n: number, t0 = Date.now()): Promise<number> {
  const before = cpuSample(c.info);
  const started = await Promise.all(Array.from({ length: n }, () =>
    c.call<Process>('POST', '/v1/processes', { argv: [BUSYLOOP, values.iterations], cwd: '/tmp', node: c.src.name })));
  const ids = new Set(started.map((p) => p.id));
  const all = await deadline(`${n} jobs to finish`, async () => {
    await new Promise((r) => setTimeout(r, 250));
    const mine = (await c.call<Process[]>('GET', '/v1/processes')).filter((p) => ids.has(p.id));
    const bad = mine.find((p) => p.state === 'exited' && p.exitCode !== 0);
    if (bad) throw new Error(`job ${bad.id} failed: ${bad.exitCode ?? bad.exitSignal}`);
    return mine.every((p) => p.state === 'exited') ? mine : undefined;
  }, 30 * 60_000);
  process.stderr.write(`bench: ${cpuShares(before, cpuSample(c.info))}\n`);
  if (n > 1) process.stderr.write(`bench: jobs ended at ${all.map((p) => `+${((p.endedAt! - t0) / 1000).toFixed(1)} s on ${p.node}`).join(', ')}\n`);
  return Math.max(...all.map((p) => p.endedAt!)) - t0;
}

async function main(): Promise<void> {
  const cpus = Math.min(1, availableParallelism() / 3);
  const c = await openBenchCluster(Number(values.id), 2048, 3, cpus);
  const admin = (JSON.parse(readFileSync(c.info.adminConfigPath, 'utf8')) as { token: string }).token;
  const balancer = (change: object) => c.call('PUT', '/v1/balancer', change, admin);
  try {
    await balancer({ enabled: false });
    const one = await makespan(c, 1);
    process.stderr.write(`bench: one job alone ${one} ms\n`);
    const without = values['skip-without'] ? NaN : await makespan(c, jobs);
    process.stderr.write(`bench: ${jobs} jobs without the balancer ${without} ms\n`);
    const settings = { enabled: true, minCpuSeconds: Number(values['min-cpu']), intervalMs: 1000, holdSeconds: 20, maxMoves: Number(values['max-moves']) };
    await balancer(settings);
    const t0 = Date.now();
    const withB = await makespan(c, jobs, t0);
    // when each move was decided, and how it went: where the balancer's time goes
    for (const d of (await c.call<BalancerStatus>('GET', '/v1/balancer', undefined, admin)).decisions.filter((x) => x.at >= t0)) {
      const m = d.migrationId === null ? null : await c.call<Migration>('GET', `/v1/migrations/${d.migrationId}`);
      const steps = m ? `, took ${m.totalMs} ms (stopped ${m.stoppedMs} ms): ${m.steps.map((s) => `${s.state} +${s.at - m.startedAt}`).join(' ')}` : '';
      process.stderr.write(`bench: +${((d.at - t0) / 1000).toFixed(1)} s process ${d.processId} ${d.from} -> ${d.to}: ${d.outcome}${steps}; ${d.reason}\n`);
    }
    const ideal = (jobs * one) / c.info.nodes.length;
    const rows = [
      [`ideal (total work / ${(3 * cpus).toFixed(2)} CPUs)`, `${Math.round(ideal)}`, '1.00'],
      ['with the balancer', `${withB}`, (withB / ideal).toFixed(2)],
      ['without the balancer', `${without}`, (without / ideal).toFixed(2)],
    ];
    process.stdout.write(
      `${jobs} equal CPU-bound jobs started on node0 of 3 nodes of ${cpus.toFixed(2)} CPU (one job alone on a node: ${one} ms); ` +
        `balancer min-cpu ${settings.minCpuSeconds} s, max-moves ${settings.maxMoves}, interval 1 s, hold 20 s\n\n${markdownTable(['', 'makespan ms', 'x ideal'], rows)}\n`,
    );
  } finally {
    await c.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  process.exit(1);
});
