/**
 * Copy-on-write across a move (issue 23): a forked tree of N processes sharing M MiB (cowtree,
 * as a pre-fork server's workers share their parent's memory) moved between two nodes by each
 * strategy in the same run. Prints the memory the tree really holds (the sum of its processes'
 * PSS) before and after, their ratio, what auto chose, and the stopped time.
 *
 *   npm run bench:cow -- [--procs 8] [--mib 256] [--id 45]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Migration, Process } from '@godwit/schemas';
import { treePss } from '../agent/src/preflight.js';
import { REPO, deadline, openBenchCluster } from './bench-cluster.js';
import { markdownTable } from './table.js';

const { values } = parseArgs({
  options: { procs: { type: 'string', default: '8' }, mib: { type: 'string', default: '256' }, id: { type: 'string', default: '45' } },
});
const procs = Number(values.procs);
const mib = Number(values.mib);
const COWTREE = join(REPO, 'test', 'programs', 'bin', 'cowtree');
const MiB = 1 << 20;


async function main(): Promise<void> {
  const c = await openBenchCluster(Number(values.id), Math.max(4096, 2 * procs * mib), 2, 1);
  const rows: string[][] = [];
  try {
    for (const strategy of ['auto', 'full', 'lazy'] as const) {
      const p = await c.call<Process>('POST', '/v1/processes', { argv: [COWTREE, String(procs), String(mib)], cwd: '/tmp', node: c.src.name });
      try {
        const ready = async () => {
          const res = await c.fetch(new URL(`/v1/processes/${p.id}/output?follow=false`, c.info.url), { headers: { authorization: `Bearer ${c.info.client.token}` } });
          const lines = (await res.text()).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { data?: string });
          return lines.some((l) => l.data && Buffer.from(l.data, 'base64').toString().includes('ready')) ? true : undefined;
        };
        await deadline(`cowtree ${procs} ${mib} to be ready`, ready, 300_000, 200);
        const before = treePss((await c.call<Process>('GET', `/v1/processes/${p.id}`)).pid!);
        const m = await c.call<Migration>('POST', `/v1/processes/${p.id}/migrate`, { to: c.dst.name, strategy });
        if (m.state === 'failed') throw new Error(`the ${strategy} move failed: ${m.reason}`);
        // a lazy move is done once its last page has arrived
        const done = await deadline(`migration ${m.id} done`, async () => {
          const all = await c.call<Migration[]>('GET', `/v1/processes/${p.id}/migrations`);
          const last = all.at(-1)!;
          if (last.state === 'failed') throw new Error(`the ${strategy} move failed: ${last.reason}`);
          return last.state === 'done' ? last : undefined;
        }, 300_000, 200);
        const after = treePss((await c.call<Process>('GET', `/v1/processes/${p.id}`)).pid!);
        rows.push([strategy, done.strategy ?? '-', (before / MiB).toFixed(0), (after / MiB).toFixed(0), (after / before).toFixed(2), String(done.stoppedMs ?? '-')]);
        process.stderr.write(`bench: ${strategy} done (${done.strategyReason})\n`);
      } finally {
        await c.stop(p.id);
      }
    }
  } finally {
    await c.close();
  }
  const head = ['asked', 'moved by', 'memory before, MiB', 'memory after, MiB', 'after / before', 'stopped ms'];
  process.stdout.write(`A tree of ${procs} processes sharing ${mib} MiB copy-on-write, moved between two nodes; memory: the sum of the tree's PSS\n\n${markdownTable(head, rows)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  process.exit(1);
});
