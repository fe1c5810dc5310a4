/**
 * What starting a program through godwit costs (issue 26: `mosrun true` in under 0.3 s): the
 * whole `mosrun true` as a shell runs it, beside `sh -c true`, and the parts it is made of,
 * measured in the same run, round after round, each going first in turn:
 *   - Node alone: `node -e 0`, the floor of any command written for Node;
 *   - the CLI alone: `mosrun --help` (Node's start-up and the CLI's modules, no request);
 *   - the API: POST /v1/processes for `true`, then its output followed until the exit line;
 *   - the agent alone: its launch of `true` (keeper, tini, the program) and its output stream
 *     read until the keeper's exit frame, with no orchestrator.
 * Brings up its own 2-node cluster (id 43, or --cluster N). Prints a Markdown table of medians
 * (and their range) with each one's ratio to `sh -c true`.
 *
 *   npm run bench:mosrun-true -- [--runs 20] [--cluster 43]
 */
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { FrameDecoder, type Process } from '@godwit/schemas';
import { openBenchCluster, REPO, type BenchCluster } from './bench-cluster.js';
import { markdownTable, median, spread } from './table.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' }, cluster: { type: 'string', default: '43' } } });
const runs = Number(values.runs);
const MOSRUN = join(REPO, 'cli', 'dist', 'bin', 'mosrun.js');

/** the agent's own ids for its launches, far from the orchestrator's */
let agentId = 900_000_000;

async function untilExit(res: Response, isExit: (chunk: Buffer, decoder: FrameDecoder) => boolean): Promise<void> {
  if (!res.ok || !res.body) throw new Error(`${res.url}: HTTP ${res.status} ${await res.text()}`);
  const decoder = new FrameDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    if (isExit(Buffer.from(chunk), decoder)) {
      await res.body.cancel().catch(() => undefined);
      return;
    }
  }
  throw new Error(`${res.url} ended before the program did`);
}

function kinds(c: BenchCluster): { name: string; run: () => Promise<void> }[] {
  const env = { ...process.env, GODWIT_CONFIG: c.info.clientConfigPath };
  const user = c.info.client.user;
  return [
    { name: '`sh -c true`', run: async () => void (await execa('sh', ['-c', 'true'])) },
    { name: '`node -e 0` (Node alone)', run: async () => void (await execa(process.execPath, ['-e', '0'])) },
    { name: '`mosrun --help` (the CLI alone)', run: async () => void (await execa(process.execPath, [MOSRUN, '--help'], { env, reject: false })) },
    {
      name: '`true` through the agent alone',
      run: async () => {
        const id = agentId++;
        const launched = await c.agentFetch(c.src, '/v1/procs', {
          method: 'POST',
          body: { id, account: user, argv: ['true'], cwd: '/tmp', env: {}, control: { nmigs: 0, locked: false, needMemBytes: 0, checkpoints: 0 } },
        });
        if (!launched.ok) throw new Error(`the agent's launch: HTTP ${launched.status} ${await launched.text()}`);
        await untilExit(await c.agentFetch(c.src, `/v1/procs/${id}/output?epoch=0&offset=0`), (chunk, d) => d.push(chunk).some((f) => f.type === 'x'));
        await c.agentFetch(c.src, `/v1/procs/${id}/epochs/0`, { method: 'DELETE' });
      },
    },
    {
      name: '`true` through the API (POST, then its output followed)',
      run: async () => {
        const p = await c.call<Process>('POST', '/v1/processes', { argv: ['true'], cwd: '/tmp', node: c.src.name });
        const res = await c.fetch(new URL(`/v1/processes/${p.id}/output?follow=true`, c.info.url), { headers: { authorization: `Bearer ${c.info.client.token}` } });
        await untilExit(res, (chunk) => chunk.toString().includes('"exit"'));
      },
    },
    {
      name: '`mosrun true`',
      run: async () => {
        const r = await execa(process.execPath, [MOSRUN, 'true'], { env, reject: false });
        if (r.exitCode !== 0) throw new Error(`mosrun true exited ${r.exitCode}: ${r.stderr}`);
      },
    },
  ];
}

async function main(): Promise<void> {
  const c = await openBenchCluster(Number(values.cluster), 1024);
  try {
    const ks = kinds(c);
    const ms = ks.map(() => [] as number[]);
    // one of each unmeasured: the first calls pay for compiling the components' code
    for (const k of ks) await k.run();
    for (let round = 0; round < runs; round++) {
      for (let j = 0; j < ks.length; j++) {
        const i = (round + j) % ks.length;
        const t0 = performance.now();
        await ks[i]!.run();
        ms[i]!.push(performance.now() - t0);
      }
    }
    const base = median(ms[0]!);
    const rows = ks.map((k, i) => [k.name, spread(ms[i]!.map(Math.round)), (median(ms[i]!) / base).toFixed(1)]);
    console.log(`\n${runs} rounds, each kind first in turn; ms, median (min-max)\n`);
    console.log(markdownTable(['what', 'ms', 'vs `sh -c true`'], rows));
  } finally {
    await c.close();
  }
}

await main();
