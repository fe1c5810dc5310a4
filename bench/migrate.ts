/**
 * Full-copy migration benchmark: godwit moving a program of 64 MiB, 256 MiB and 1 GiB between
 * two nodes of a local cluster, against bare CRIU doing the same steps by hand in the same run,
 * with the same options and the same node limits, two ways: criu dump in the source node, `cp -r`
 * of the images, criu restore in the destination node; and the same with the pages sent during
 * the dump to a CRIU page server in the destination node (what godwit does), so that the copy
 * crosses the nodes' network as it must between real machines. Prints stopped time and total
 * time, and the ratios.
 *
 *   npm run bench -- [--sizes 64,256,1024] [--runs 3] [--id 43]
 *   (BENCH_STEPS=1 prints each godwit migration's steps with the ms each took, to stderr)
 */
import { execa } from 'execa';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { AgentProc, Migration, OrchestratorConfig, Process } from '@godwit/schemas';
import { createCriu, dumpArgs } from '../agent/src/criu.js';
import { parseCriuLockTables } from '../agent/src/nft.js';
import { clusterDown, clusterUp, type ClusterInfo } from '../cli/src/cluster/index.js';

const REPO = join(import.meta.dirname, '..');
const MEMHOG = join(REPO, 'bench', 'bin', 'memhog');
const IN_NODE = join(REPO, 'bench', 'in-node.sh');
const KEEPER = join(REPO, 'agent', 'keeper', 'godwit-keeper');
const PAGE_SERVER_PORT = 7790;

const { values } = parseArgs({
  options: { sizes: { type: 'string', default: '64,256,1024' }, runs: { type: 'string', default: '3' }, id: { type: 'string', default: '43' } },
});
const sizes = values.sizes.split(',').map(Number);
const runs = Number(values.runs);

interface Sample { stoppedMs: number; totalMs: number; bytes: number }

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function deadline<T>(what: string, probe: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'godwit-bench-'));
  const info: ClusterInfo = await clusterUp({ home, id: Number(values.id), nodes: 2, cpus: 1, memMiB: 6144, log: () => undefined });
  const orchestratorConfig = JSON.parse(readFileSync(join(home, 'orchestrator', 'config.json'), 'utf8')) as OrchestratorConfig;
  const nodeToken = (name: string) => orchestratorConfig.nodes.find((n) => n.name === name)!.token;
  const [src, dst] = info.nodes as [ClusterInfo['nodes'][number], ClusterInfo['nodes'][number]];

  const call = async <T>(method: string, path: string, body?: unknown, base = info.url, token = info.client.token): Promise<T> => {
    const res = await fetch(new URL(path, base), {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  const output = async (id: number) => {
    const text = await (await fetch(new URL(`/v1/processes/${id}/output?follow=false`, info.url), { headers: { authorization: `Bearer ${info.client.token}` } })).text();
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { data?: string }).map((l) => (l.data ? Buffer.from(l.data, 'base64').toString() : '')).join('');
  };
  const start = async (mib: number): Promise<Process> => {
    const p = await call<Process>('POST', '/v1/processes', { argv: [MEMHOG, String(mib), '600'], cwd: '/tmp', node: src.name });
    await deadline(`memhog ${mib} to be ready`, async () => ((await output(p.id)).includes('ready') ? true : undefined));
    return p;
  };
  const stop = (id: number) => call('POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' }).catch(() => undefined);

  async function viaGodwit(mib: number): Promise<Sample> {
    const p = await start(mib);
    const m = await call<Migration>('POST', `/v1/processes/${p.id}/migrate`, { to: dst.name });
    await stop(p.id);
    if (process.env.BENCH_STEPS) process.stderr.write(`godwit ${mib} MiB: ${m.steps.map((s, i) => `${s.state} +${i ? s.at - m.steps[i - 1]!.at : 0}`).join(', ')}\n`);
    return { stoppedMs: m.frozenMs!, totalMs: m.totalMs!, bytes: m.bytes! };
  }

  const criu = createCriu('/usr/local/sbin/criu');
  async function bare(mib: number, via: 'cp' | 'page-server'): Promise<Sample> {
    const p = await start(mib);
    const procs = await call<AgentProc[]>('GET', '/v1/procs', undefined, src.url, nodeToken(src.name));
    const proc = procs.find((x) => x.id === p.id && x.state === 'running')!;
    const work = mkdtempSync(join(home, 'bare-'));
    const [dumpDir, copyDir, keeperDir] = ['dump', 'copy', 'keeper'].map((d) => join(work, d)) as [string, string, string];
    await execa('mkdir', ['-p', dumpDir, keeperDir]);
    let t0: number;
    if (via === 'cp') {
      t0 = Date.now();
      await execa(IN_NODE, [src.netns, '--', criu.path, ...dumpArgs(proc.rootPid, dumpDir, 'dump.log')]);
      await execa('cp', ['-r', dumpDir, copyDir]);
    } else {
      // as godwit does: the page server is up before the program stops
      const at = { host: new URL(dst.url).hostname, port: PAGE_SERVER_PORT };
      await execa('mkdir', ['-p', copyDir]);
      await execa(IN_NODE, [dst.netns, '--', criu.path, 'page-server', '-D', copyDir, '-o', 'page-server.log', '--address', at.host, '--port', String(at.port), '-d']);
      t0 = Date.now();
      await execa(IN_NODE, [src.netns, '--', criu.path, ...dumpArgs(proc.rootPid, dumpDir, 'dump.log', at)]);
      await execa('cp', ['-r', `${dumpDir}/.`, copyDir]);
      // the dump left it stopped (the source could resume it): by hand it simply ends
      process.kill(proc.rootPid, 'SIGKILL');
    }
    const pidfile = join(copyDir, 'restore.pid');
    await execa(IN_NODE, [dst.netns, ...dst.cgroups, '--', KEEPER, keeperDir, '1', 'restore', pidfile, '--',
      ...criu.restoreArgv({ imagesDir: copyDir, logName: 'restore.log', pidfile, inodes: proc.inodes })], { detached: true, stdio: 'ignore' }).unref?.();
    const rootPid = await deadline('the bare restore', async () => {
      try {
        const ev = readFileSync(join(keeperDir, 'status.1'), 'utf8');
        if (ev.includes('restore-failed')) throw new Error(`bare restore failed: see ${copyDir}/restore.log`);
        const m = /"started","pid":(\d+)/.exec(ev);
        return m ? Number(m[1]) : undefined;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    });
    const total = Date.now() - t0;
    const bytes = dirBytes(copyDir);
    process.kill(rootPid, 'SIGKILL');
    // the agent's own clean-up, done by hand: the dump's network lock table in the source node
    const listing = await execa(IN_NODE, [src.netns, '--', 'nft', 'list', 'tables']);
    for (const table of parseCriuLockTables(listing.stdout)) await execa(IN_NODE, [src.netns, '--', 'nft', 'delete', 'table', 'inet', table]);
    rmSync(work, { recursive: true, force: true });
    // by hand there is no transfer to overlap: the stopped time is the whole of it
    return { stoppedMs: total, totalMs: total, bytes };
  }

  const rows: string[][] = [];
  try {
    for (const mib of sizes) {
      const g: Sample[] = [];
      const b: Sample[] = [];
      const ps: Sample[] = [];
      for (let i = 0; i < runs; i++) {
        // each in turn goes first: the first of a round runs right after the last one's clean-up
        const steps = [async () => g.push(await viaGodwit(mib)), async () => b.push(await bare(mib, 'cp')), async () => ps.push(await bare(mib, 'page-server'))];
        for (let k = 0; k < steps.length; k++) await steps[(i + k) % steps.length]!();
      }
      const stopped = (xs: Sample[]) => median(xs.map((x) => x.stoppedMs));
      const total = (xs: Sample[]) => median(xs.map((x) => x.totalMs));
      const ratio = (a: number, b2: number) => (a / b2).toFixed(2);
      rows.push([
        `${mib} MiB`, `${(median(g.map((x) => x.bytes)) / 2 ** 20).toFixed(0)} MiB`,
        `${stopped(g)}`, `${stopped(b)}`, ratio(stopped(g), stopped(b)), `${stopped(ps)}`, ratio(stopped(g), stopped(ps)),
        `${total(g)}`, `${total(b)}`, ratio(total(g), total(b)),
      ]);
      process.stderr.write(`bench: ${mib} MiB done\n`);
    }
  } finally {
    await clusterDown({ home, log: () => undefined });
    rmSync(home, { recursive: true, force: true });
  }
  const head = ['program', 'images', 'godwit stopped ms', 'bare CRIU + cp stopped ms', 'ratio', 'bare CRIU + page server stopped ms', 'ratio', 'godwit total ms', 'bare CRIU + cp total ms', 'ratio'];
  const lines = [head, head.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`);
  process.stdout.write(`Full-copy migration between two nodes, median of ${runs} runs each\n\n${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).message}\n`);
  process.exit(1);
});
