/**
 * Many live processes (issue 23): LIVE small sleepers started through the API, spread over a
 * three-node local cluster, as its ordinary client user; then, side by side in one run:
 *   - the time to start them all (CONCURRENCY launches at a time);
 *   - the orchestrator's RSS and V8 heap (after a full GC, read through its inspector) before and
 *     after, and per live process;
 *   - the agents' idle reports: what the nodes send the orchestrator (bytes and packets a second,
 *     read on the host's ends of their veths) and the CPU the orchestrator and agents spend a
 *     second while nothing happens;
 *   - how long `mosps` takes to list them;
 *   - the orchestrator killed (SIGKILL, by PID) and started again: time from its start to its
 *     `reconciled` event (each node's agent listed, every live process found running there),
 *     and to every process listed running again.
 * CPU-seconds are given beside rates, which this loaded two-core machine bounds.
 *
 *   npm run bench:many -- [--live 1000] [--concurrency 8] [--idle-seconds 10] [--cluster 80]
 */
import { execa } from 'execa';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import type { Process } from '@godwit/schemas';
import { type Fetch, fetchOver } from '@godwit/schemas/tls';
import { clusterDown, clusterUp, restartComponent, stopComponent, type ClusterInfo, type ClusterState } from '../cli/src/cluster/index.js';
import { REPO, deadline } from './bench-cluster.js';
import { markdownTable } from './table.js';

const { values } = parseArgs({
  options: {
    live: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '8' },
    'idle-seconds': { type: 'string', default: '10' },
    cluster: { type: 'string', default: '80' },
  },
});
const LIVE = Number(values.live);
const CONCURRENCY = Number(values.concurrency);
const IDLE_S = Number(values['idle-seconds']);
const CLUSTER_ID = Number(values.cluster);
/** the orchestrator's inspector, opened by SIGUSR1 at this port only when the bench asks */
const INSPECT_PORT = 19_200 + CLUSTER_ID;
const SLEEPER = ['/usr/bin/sleep', '86400'];

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const kib = (bytes: number) => (bytes / 1024).toFixed(1);

/** CPU time the process has used, in seconds (utime + stime of /proc/PID/stat) */
function cpuSeconds(pid: number): number {
  const rest = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop()!.split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

/** bytes and packets the node sent, counted on the host's end of its veth */
function fromNode(veth: string): { bytes: number; packets: number } {
  const stat = (name: string) => Number(readFileSync(`/sys/class/net/${veth}/statistics/${name}`, 'utf8'));
  return { bytes: stat('rx_bytes'), packets: stat('rx_packets') };
}

/** the orchestrator's V8 heap in use after a full collection, through its inspector (SIGUSR1 opens it) */
async function heapUsed(pid: number): Promise<number> {
  process.kill(pid, 'SIGUSR1');
  const targets = await deadline('the orchestrator\'s inspector', async () => {
    try {
      return (await (await fetch(`http://127.0.0.1:${INSPECT_PORT}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
    } catch {
      return undefined;
    }
  }, 20_000, 200);
  const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let next = 0;
  const send = (method: string, params: object = {}) =>
    new Promise<{ result?: { result?: { value?: unknown } } }>((resolve) => {
      const id = ++next;
      const onMessage = (data: Buffer) => {
        const msg = JSON.parse(data.toString()) as { id?: number };
        if (msg.id !== id) return;
        ws.off('message', onMessage);
        resolve(msg as never);
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await send('HeapProfiler.collectGarbage');
  const r = await send('Runtime.evaluate', { expression: 'process.memoryUsage().heapUsed', returnByValue: true });
  ws.close();
  return Number(r.result?.result?.value);
}

interface Api {
  call<T>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: T; headers: Headers }>;
}

function apiOf(info: ClusterInfo, fetcher: Fetch): Api {
  return {
    async call(method, path, body, token = info.client.token) {
      const res = await fetcher(new URL(path, info.url), {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : undefined) as never, headers: res.headers };
    },
  };
}

/** the ids of the caller's running processes, page by page */
async function runningIds(api: Api): Promise<number[]> {
  const ids: number[] = [];
  let cursor: string | null = null;
  do {
    const r: { status: number; body: Process[]; headers: Headers } = await api.call<Process[]>('GET', `/v1/processes?state=running&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    if (r.status !== 200) throw new Error(`GET /v1/processes answered ${r.status}: ${JSON.stringify(r.body)}`);
    ids.push(...r.body.map((p) => p.id));
    cursor = r.headers.get('x-next-cursor');
  } while (cursor);
  return ids;
}

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'godwit-bench-many-'));
  // read by the orchestrator (and the agents, who never get SIGUSR1) when it starts
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --inspect-port=127.0.0.1:${INSPECT_PORT}`.trim();
  const info = await clusterUp({ home, id: CLUSTER_ID, nodes: 3, cpus: 1, memMiB: 4096, log: () => undefined });
  const rows: string[][] = [];
  const row = (what: string, figure: string, note = '') => {
    rows.push([what, figure, note]);
    console.error(`${what}: ${figure} ${note}`);
  };
  const ids: number[] = [];
  const fetcher = fetchOver(info.client.ca ? { ca: Buffer.from(info.client.ca) } : undefined);
  const api = apiOf(info, fetcher);
  const state = () => JSON.parse(readFileSync(info.statePath, 'utf8')) as ClusterState;
  const pidOf = (name: string) => state().components.find((c) => c.name === name)!.pid;
  const agents = () => info.nodes.map((n) => pidOf(n.name));
  const cpuOf = (pids: number[]) => pids.reduce((s, p) => s + cpuSeconds(p), 0);
  try {
    const admin = JSON.parse(readFileSync(info.adminConfigPath, 'utf8')) as { token: string };
    // the sleepers stay where they were put
    await api.call('PUT', '/v1/balancer', { enabled: false, autoFreeze: false }, admin.token);
    const orch = pidOf('orchestrator');
    const rss0 = rssBytes(orch);
    const heap0 = await heapUsed(orch);

    const cpu0 = { o: cpuSeconds(orch), a: cpuOf(agents()) };
    const t0 = performance.now();
    let launched = 0;
    let failed = '';
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (launched < LIVE && !failed) {
        const i = launched++;
        const r = await api.call<Process>('POST', '/v1/processes', { argv: SLEEPER, cwd: '/', node: info.nodes[i % info.nodes.length]!.name });
        if (r.status !== 201 && r.status !== 200) failed = `launch ${i} answered ${r.status}: ${JSON.stringify(r.body)}`;
        else ids.push(r.body.id);
      }
    }));
    if (failed) throw new Error(`${failed} (after ${ids.length} started)`);
    const startS = (performance.now() - t0) / 1000;
    const cpu1 = { o: cpuSeconds(orch), a: cpuOf(agents()) };
    row(`start ${LIVE} sleepers (${CONCURRENCY} at a time)`, `${startS.toFixed(1)} s`, `${(LIVE / startS).toFixed(1)}/s; CPU-s orchestrator ${(cpu1.o - cpu0.o).toFixed(1)}, agents ${(cpu1.a - cpu0.a).toFixed(1)}`);
    const running = await runningIds(api);
    if (running.length < LIVE) throw new Error(`only ${running.length} of ${LIVE} are listed running`);

    // settled: the first reports after the launches are in
    await new Promise((r) => setTimeout(r, 3000));
    const rss1 = rssBytes(orch);
    const heap1 = await heapUsed(orch);
    row('orchestrator RSS before / after', `${mib(rss0)} / ${mib(rss1)} MiB`, `${kib((rss1 - rss0) / LIVE)} KiB per process`);
    row('orchestrator heap before / after (after GC)', `${mib(heap0)} / ${mib(heap1)} MiB`, `${kib((heap1 - heap0) / LIVE)} KiB per process`);
    const agentRss = agents().reduce((s, p) => s + rssBytes(p), 0);
    row('agents\' RSS (3 nodes)', `${mib(agentRss)} MiB`);

    const veths = state().nodes.map((n) => n.veth);
    const net0 = veths.map(fromNode);
    const idle0 = { o: cpuSeconds(orch), a: cpuOf(agents()), at: performance.now() };
    await new Promise((r) => setTimeout(r, IDLE_S * 1000));
    const net1 = veths.map(fromNode);
    const idle1 = { o: cpuSeconds(orch), a: cpuOf(agents()), at: performance.now() };
    const secs = (idle1.at - idle0.at) / 1000;
    const bytes = net1.reduce((s, n, i) => s + n.bytes - net0[i]!.bytes, 0);
    const packets = net1.reduce((s, n, i) => s + n.packets - net0[i]!.packets, 0);
    row('idle: nodes to orchestrator', `${kib(bytes / secs)} KiB/s`, `${(packets / secs).toFixed(0)} packets/s over ${secs.toFixed(0)} s`);
    row('idle: CPU per second', `orchestrator ${((idle1.o - idle0.o) / secs).toFixed(3)} s, agents ${((idle1.a - idle0.a) / secs).toFixed(3)} s`);

    const env = { ...process.env, NODE_OPTIONS: '', GODWIT_HOME: home, GODWIT_CONFIG: info.clientConfigPath };
    const ps0 = performance.now();
    const ps = await execa(process.execPath, [join(REPO, 'cli', 'dist', 'bin', 'mosps.js')], { env, reject: false });
    const psS = (performance.now() - ps0) / 1000;
    const psLines = ps.stdout.split('\n').filter((l) => /^\s*\d+\s/.test(l)).length;
    row('mosps', `${psS.toFixed(2)} s`, `${psLines} rows, exit ${ps.exitCode}`);

    await stopComponent({ home, name: 'orchestrator', signal: 'SIGKILL' });
    const r0 = performance.now();
    await restartComponent({ home, name: 'orchestrator' });
    const reconciled = await deadline('the reconciled event', async () => {
      try {
        const r = await api.call<{ message: string; at: number }[]>('GET', '/v1/events?kind=reconciled', undefined, admin.token);
        return r.status === 200 && r.body.length >= 1 ? performance.now() : undefined;
      } catch {
        return undefined;
      }
    }, 300_000, 50);
    const all = await deadline('every sleeper listed running', async () => {
      const now = new Set(await runningIds(api));
      return ids.every((id) => now.has(id)) ? performance.now() : undefined;
    }, 300_000, 50);
    const orch2 = pidOf('orchestrator');
    row(`restart: reconciled ${LIVE} live`, `${((reconciled - r0) / 1000).toFixed(2)} s`, `all listed running at ${((all - r0) / 1000).toFixed(2)} s; orchestrator CPU-s ${cpuSeconds(orch2).toFixed(1)}`);
    await new Promise((r) => setTimeout(r, 3000));
    row('orchestrator RSS / heap after restart', `${mib(rssBytes(orch2))} / ${mib(await heapUsed(orch2))} MiB`);
  } finally {
    await clusterDown({ home, log: () => undefined }).catch((err: unknown) => console.error(`cluster down: ${(err as Error).message}`));
    // the components' logs outlive the cluster, as the tests' do
    const kept = join(tmpdir(), `godwit-bench-logs-${CLUSTER_ID}`);
    rmSync(kept, { recursive: true, force: true });
    cpSync(info.logsDir, kept, { recursive: true });
    rmSync(home, { recursive: true, force: true });
  }
  const load = loadavg().map((l) => l.toFixed(1)).join(' ');
  console.log(`\n${LIVE} live sleepers (\`${SLEEPER.join(' ')}\`), 3 nodes, load ${load}\n`);
  console.log(markdownTable(['', 'figure', 'note'], rows));
}

main().catch((err: unknown) => {
  console.error(`bench:many failed: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
