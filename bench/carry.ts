/**
 * What carrying node-local files costs a move (issue 20): godwit moving a program that holds a
 * file of N MiB in its node's own /tmp (carried: packed while it is stopped, written at the
 * destination before the restore; sent ahead while it runs, see agent/src/carry-ahead.ts) against the same program holding it on a shared path (the
 * checkout: nothing carried), by full copy between two nodes of a local cluster, in the same run.
 * Prints the stopped time of each, the extra stopped time, and the carry rate: the file's bytes
 * over that extra time (medians of the runs); the pre-copy's time and rate while the program ran;
 * and, as the machine may be loaded by others, what the carrying cost in CPU time, which the
 * load does not change: the two agents' CPU seconds (their own and their waited-for helpers',
 * /proc/PID/stat) over each move, node-local less shared, per GiB carried.
 *
 *   npm run bench:carry -- [--sizes 64,256] [--runs 3] [--id 44]
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Migration, Process } from '@godwit/schemas';
import { REPO, deadline, openBenchCluster } from './bench-cluster.js';
import { markdownTable, median, spread } from './table.js';

const { values } = parseArgs({
  options: { sizes: { type: 'string', default: '64,256' }, runs: { type: 'string', default: '3' }, id: { type: 'string', default: '44' } },
});
const sizes = values.sizes.split(',').map(Number);
const runs = Number(values.runs);
const MiB = 1 << 20;
const HELD_FILE = join(REPO, 'test', 'programs', 'held_file.py');
/** a shared path of the local cluster (the checkout), seen alike by every node */
const SHARED = join(REPO, 'test', '.scratch', `godwit-bench-carry-${process.pid}`);

type Where = 'node-local' | 'shared';

/** CPU seconds a process used, with those of its children it waited for (utime, stime, cutime, cstime) */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
  return ticks / 100;
}

const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');

async function main(): Promise<void> {
  mkdirSync(SHARED, { recursive: true, mode: 0o1777 });
  const c = await openBenchCluster(Number(values.id), 4096, 2, 1);
  const stopped = new Map<string, number[]>();
  /** both agents' CPU seconds over each move */
  const cpu = new Map<string, number[]>();
  const agents = c.info.state.components.filter((x) => x.role === 'agent' && (x.name === c.src.name || x.name === c.dst.name)).map((x) => x.pid);
  const agentsCpu = () => agents.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const loadBefore = load();
  /** how long each move of a node-local file took to send it ahead, while the program ran */
  const ahead = new Map<number, number[]>();
  const aheadMs = (migrationId: number): number | undefined => {
    const line = readFileSync(join(c.home, 'logs', 'orchestrator.log'), 'utf8').split('\n').find((l) => l.includes('carried ahead') && l.includes(`"migration":${migrationId},`));
    return line ? (JSON.parse(line) as { ms: number }).ms : undefined;
  };
  const move = async (where: Where, mib: number, n: number): Promise<{ stoppedMs: number; cpuS: number }> => {
    const name = `godwit-bench-carry-${mib}-${n}`;
    const path = where === 'shared' ? join(SHARED, name) : `/tmp/${name}`;
    // where the host sees it: the source node's own /tmp is a directory of the cluster's home
    const seen = where === 'shared' ? path : join(c.home, 'nodes', c.src.name, 'local', 'tmp', name);
    const p = await c.call<Process>('POST', '/v1/processes', { argv: ['python3', HELD_FILE, path, String(mib), 'keep', '6000'], cwd: SHARED, node: c.src.name });
    try {
      await deadline(`${path} of ${mib} MiB written`, async () => (existsSync(seen) && statSync(seen).size === mib * MiB ? true : undefined), 300_000, 100);
      // a file changed within a second of its pre-copy is packed again at the stop (carry-ahead.ts): a file held, not one just written, is measured
      await deadline(`${path} unchanged for 1.5 s`, async () => (Date.now() - statSync(seen).ctimeMs > 1500 ? true : undefined), 60_000, 100);
      const cpu0 = agentsCpu();
      const m = await c.call<Migration>('POST', `/v1/processes/${p.id}/migrate`, { to: c.dst.name, strategy: 'full', carryMaxBytes: 2 * mib * MiB });
      const cpuS = agentsCpu() - cpu0;
      if (m.state === 'failed') throw new Error(`the move of a program holding ${mib} MiB on a ${where} path failed: ${m.reason}`);
      const sent = where === 'node-local' ? aheadMs(m.id) : undefined;
      if (sent !== undefined) ahead.set(mib, [...(ahead.get(mib) ?? []), sent]);
      return { stoppedMs: m.stoppedMs!, cpuS };
    } finally {
      await c.stop(p.id);
      for (const node of [c.src.name, c.dst.name]) rmSync(join(c.home, 'nodes', node, 'local', 'tmp', name), { force: true });
      rmSync(join(SHARED, name), { force: true });
    }
  };
  try {
    // not measured: the first move after the agents start pays for compiling their code
    await move('shared', sizes[0]!, 0);
    for (const mib of sizes) {
      for (let i = 1; i <= runs; i++) {
        for (const where of ['node-local', 'shared'] as const) {
          const k = `${where} ${mib}`;
          const moved = await move(where, mib, i);
          stopped.set(k, [...(stopped.get(k) ?? []), moved.stoppedMs]);
          cpu.set(k, [...(cpu.get(k) ?? []), moved.cpuS]);
        }
      }
      process.stderr.write(`bench: ${mib} MiB done\n`);
    }
  } finally {
    await c.close();
    rmSync(SHARED, { recursive: true, force: true });
  }
  const rows = sizes.map((mib) => {
    const local = stopped.get(`node-local ${mib}`)!;
    const shared = stopped.get(`shared ${mib}`)!;
    const extra = median(local) - median(shared);
    const sentMs = ahead.get(mib);
    const cpuLocal = median(cpu.get(`node-local ${mib}`)!);
    const cpuShared = median(cpu.get(`shared ${mib}`)!);
    return [
      `${mib} MiB`, spread(local), spread(shared), `${extra}`, extra > 0 ? ((mib * MiB) / extra / 1e6).toFixed(2) : '-',
      sentMs ? spread(sentMs) : 'not sent ahead', sentMs ? ((mib * MiB) / median(sentMs) / 1e6).toFixed(2) : '-',
      `${cpuLocal.toFixed(2)} / ${cpuShared.toFixed(2)}`, (((cpuLocal - cpuShared) * 1024) / mib).toFixed(2),
    ];
  });
  const head = ['file', 'stopped ms, node-local (carried)', 'stopped ms, shared path', 'extra ms', 'carry GB/s (stopped)', 'sent ahead ms (running)', 'sent ahead GB/s', 'agents CPU s, node-local / shared', 'carry CPU s per GiB'];
  process.stdout.write(
    `Full-copy move between two nodes of a program holding one file in its node's /tmp (carried) or on a shared path, median (range) of ${runs} runs; carry GB/s: the file over the extra stopped time; sent ahead: the pre-copy while it still ran (orchestrator log); CPU: both agents' and their helpers' over the move; load average (1, 5, 15 min) ${loadBefore} before, ${load()} after\n\n${markdownTable(head, rows)}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  process.exit(1);
});
