/**
 * The API for schedulers at scale (issue 23): requests/s, p50 and p99 of
 * GET /v1/processes?state=running&limit=100 against the unpaged list, side by side in one run,
 * with RECORDED processes in the database (LIVE of them in state running); then how soon a watch
 * stream (GET /v1/events?follow=true) delivers an event, with WATCHERS streams open.
 *
 * The orchestrator runs alone in a child process (node orchestrator/dist/main.js), so the load
 * generator does not share its event loop. No real program runs: the rows are recorded ones, and
 * each node's last load report (recorded too) gives every live process its resident memory, as the
 * list shows it. The nodes' agents are stand-ins that take connections and answer nothing: the
 * output relay's 1,000 pullers then wait on open streams as they do for quiet programs (against
 * a closed port they retried 500 times a second, 0.3 core, and that was most of what a request
 * seemed to cost). The orchestrator's CPU while idle is measured before the load and shown. The
 * delivery delay is measured in one process: events recorded through the orchestrator's own
 * database handle, timed until each watcher over loopback HTTP has parsed it.
 *
 *   npm run bench:api -- [--recorded 10000] [--live 1000] [--seconds 10] [--clients 32] [--watchers 16] [--events 500]
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { NodeLoad, ProcLoad } from '@godwit/schemas';
import { buildApp } from '../orchestrator/src/app.js';
import { loadConfig } from '../orchestrator/src/config.js';
import { openDb } from '../orchestrator/src/db/index.js';
import { REPO, deadline } from './bench-cluster.js';
import { markdownTable } from './table.js';

const { values } = parseArgs({
  options: {
    recorded: { type: 'string', default: '10000' },
    live: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '10' },
    clients: { type: 'string', default: '32' },
    watchers: { type: 'string', default: '16' },
    events: { type: 'string', default: '500' },
  },
});
const RECORDED = Number(values.recorded);
const LIVE = Number(values.live);
const SECONDS = Number(values.seconds);
const CLIENTS = Number(values.clients);
const WATCHERS = Number(values.watchers);
const EVENTS = Number(values.events);
const TOKEN = 'bench-token-0123456789ab';
const PORT = 17_000 + (process.pid % 1000);
const NODES = ['node0', 'node1', 'node2'];

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const ms = (x: number) => x.toFixed(1);

/** listening stand-ins for the nodes' agents: they take every connection and answer nothing */
async function silentAgents(): Promise<{ ports: number[]; close: () => void }> {
  const sockets = new Set<net.Socket>();
  const servers = await Promise.all(NODES.map(async () => {
    const server = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return server;
  }));
  return {
    ports: servers.map((s) => (s.address() as net.AddressInfo).port),
    close: () => {
      for (const s of sockets) s.destroy();
      for (const s of servers) s.close();
    },
  };
}

function writeConfig(dir: string, agentPorts: number[]): string {
  const file = join(dir, 'orchestrator.json');
  writeFileSync(file, JSON.stringify({
    listen: { host: '127.0.0.1', port: PORT },
    tls: false,
    dataDir: join(dir, 'data'),
    checkpointDir: join(dir, 'checkpoints'),
    users: [{ name: 'bench', token: TOKEN }],
    // a scheduler's rate, not a person's: the limit must not be what is measured
    limits: { requestsPerMinute: 100_000_000 },
    // no agent ever connects: the nodes must not be taken for lost while the bench runs
    nodeLostMs: 24 * 3600_000,
    nodes: NODES.map((name, i) => ({ name, url: `http://127.0.0.1:${agentPorts[i]}`, token: `${name}-token-0123456789` })),
  }));
  return file;
}

/** RECORDED processes of user bench, LIVE of them running, spread over the nodes, each with a start event; each node's load report listing its live ones */
function record(dataDir: string, agentPorts: number[]): void {
  const db = openDb(dataDir);
  const now = Date.now();
  const procs = new Map(NODES.map((n) => [n, [] as ProcLoad[]]));
  db.tx(() => {
    for (let i = 0; i < RECORDED; i++) {
      const node = NODES[i % NODES.length]!;
      const id = Number(db.q.insertProcess.run({
        owner: 'bench', argv: JSON.stringify(['/usr/bin/sleep', '3600']), cwd: '/', home_node: node, node, created_at: now - RECORDED + i, locked: 0,
        ckpt_file: null, ckpt_max: null, ckpt_every_ms: null, ckpt_compress: null, recover_on_failure: 0,
      }).lastInsertRowid);
      db.q.setLaunched.run({ id, pid: 1000 + i });
      // the live ones spread through the ids, as on a cluster that has run a while
      if (i % Math.max(1, Math.round(RECORDED / LIVE)) !== 0) db.q.endProcess.run({ id, state: 'exited', exit_code: 0, exit_signal: null, died_oom: 0, died_reason: null, ended_at: now });
      else procs.get(node)!.push({ id, epoch: 0, cpuSeconds: 0.01, cpuRate: 0, cpuDemand: 0, ioBytesPerS: 0, rssBytes: 1_536_000 + i });
      db.event({ processId: id, node, kind: 'started', message: `process ${id} started on ${node}` });
    }
    NODES.forEach((name, i) => {
      db.q.upsertConfiguredNode.run({ name, url: `http://127.0.0.1:${agentPorts[i]}` });
      const load: NodeLoad = { at: now, cpuCapacity: 2, cpuUsed: 0, memTotalBytes: 8 << 30, memFreeBytes: 4 << 30, running: procs.get(name)!.length, procs: procs.get(name)! };
      db.q.setNodeLoad.run({ name, at: now, load: JSON.stringify(load) });
    });
  });
  db.close();
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });

function get(path: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: PORT, path, agent, headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
      let bytes = 0;
      res.on('data', (d: Buffer) => (bytes += d.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** CPU time (ms) a process has used: on a loaded machine, what a request costs however long it waits for a core */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime, fields 14 and 15 of stat, in clock ticks of 10 ms
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** CLIENTS callers asking for path back to back for SECONDS: requests/s and each one's latency, and the server's CPU per request */
async function load(path: string, server: number): Promise<{ perSecond: number; p50: number; p99: number; bytes: number; rows: number; cpuPerRequest: number }> {
  const first = await get(path);
  if (first.status !== 200) throw new Error(`GET ${path} answered ${first.status}`);
  const latencies: number[] = [];
  let resets = 0;
  const cpu0 = cpuMs(server);
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      // a kept-alive connection the server closed as it was reused: counted, asked again
      const res = await get(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ECONNRESET') throw err;
        resets++;
        return get(path);
      });
      if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}`);
      latencies.push(performance.now() - t0);
    }
  }));
  const cpuPerRequest = (cpuMs(server) - cpu0) / latencies.length;
  if (resets) console.error(`${path}: ${resets} connections reset and asked again`);
  const body = await new Promise<string>((resolve) => {
    http.get({ host: '127.0.0.1', port: PORT, path, headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
      let s = '';
      res.on('data', (d: Buffer) => (s += d.toString()));
      res.on('end', () => resolve(s));
    });
  });
  return { perSecond: latencies.length / SECONDS, p50: pct(latencies, 50), p99: pct(latencies, 99), bytes: first.bytes, rows: (JSON.parse(body) as unknown[]).length, cpuPerRequest };
}

/** the orchestrator's CPU while no request comes, ms a second */
let idleCpuMsPerS = 0;

async function measureLists(config: string): Promise<string[][]> {
  const child = spawn(process.execPath, [join(REPO, 'orchestrator', 'dist', 'main.js'), '--config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    await deadline('the orchestrator to answer', async () => ((await get('/v1/whoami').catch(() => undefined))?.status === 200 ? true : undefined), 60_000, 100);
    // the start's reconciliation and the pullers' first connections done
    await new Promise((r) => setTimeout(r, 2000));
    const idle0 = cpuMs(child.pid!);
    await new Promise((r) => setTimeout(r, 3000));
    idleCpuMsPerS = (cpuMs(child.pid!) - idle0) / 3;
    const rows: string[][] = [];
    for (const [label, path] of [
      ['paged, filtered', '/v1/processes?state=running&limit=100'],
      ['unpaged (every row)', '/v1/processes'],
    ] as const) {
      const r = await load(path, child.pid!);
      rows.push([
        `\`GET ${path}\``, label, String(r.rows), String(Math.round(r.bytes / 1024)), String(Math.round(r.perSecond)), ms(r.p50), ms(r.p99),
        r.cpuPerRequest.toFixed(2), String(Math.round(1000 / r.cpuPerRequest)),
      ]);
    }
    const ratio = (col: number) => `${(Number(rows[0]![col]) / Math.max(0.001, Number(rows[1]![col]))).toFixed(col === 7 ? 3 : 1)}x`;
    rows.push(['ratio', 'paged / unpaged', '', '', ratio(4), '', '', ratio(7), ratio(8)]);
    return rows;
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

/** WATCHERS streams open; EVENTS events recorded 5 ms apart: how long until each watcher had each */
async function measureDelivery(config: string): Promise<string[]> {
  const app = await buildApp(loadConfig(config), { logger: false });
  await app.listen({ host: '127.0.0.1', port: PORT });
  const delays: number[] = [];
  const sentAt = new Map<string, number>();
  const streams: http.ClientRequest[] = [];
  try {
    let open = 0;
    for (let w = 0; w < WATCHERS; w++) {
      const req = http.get({ host: '127.0.0.1', port: PORT, path: '/v1/events?follow=true&kind=bench-mark', headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
        open++;
        let pending = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          pending += chunk;
          let end: number;
          while ((end = pending.indexOf('\n\n')) >= 0) {
            const data = /^data: (.*)$/m.exec(pending.slice(0, end));
            pending = pending.slice(end + 2);
            if (data) {
              const t0 = sentAt.get((JSON.parse(data[1]!) as { message: string }).message);
              if (t0 !== undefined) delays.push(performance.now() - t0);
            }
          }
        });
      });
      req.on('error', () => {});
      streams.push(req);
    }
    await deadline('every watcher to be answered', async () => (open === WATCHERS ? true : undefined), 30_000);
    const { db } = app.godwit.ctx;
    // a process of bench's: an ordinary user's stream sees only its own processes' events
    const processId = db.q.liveProcesses.all()[0]?.id ?? 1;
    for (let i = 0; i < EVENTS; i++) {
      const message = `mark ${i}`;
      sentAt.set(message, performance.now());
      db.event({ processId, node: 'node0', kind: 'bench-mark', message });
      await new Promise((r) => setTimeout(r, 5));
    }
    await deadline(`all ${EVENTS * WATCHERS} deliveries`, async () => (delays.length >= EVENTS * WATCHERS ? true : undefined), 60_000);
    return [String(WATCHERS), String(EVENTS), String(delays.length), ms(pct(delays, 50)), ms(pct(delays, 99)), ms(Math.max(...delays))];
  } finally {
    for (const s of streams) s.destroy();
    await app.close();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'godwit-bench-api-'));
const agents = await silentAgents();
try {
  const config = writeConfig(dir, agents.ports);
  const t0 = performance.now();
  record(join(dir, 'data'), agents.ports);
  console.error(`recorded ${RECORDED} processes (${LIVE} running) in ${Math.round(performance.now() - t0)} ms; load ${loadavg()[0]!.toFixed(1)}`);
  const lists = await measureLists(config);
  const delivery = await measureDelivery(config);
  console.log(
    `\nGET /v1/processes with ${RECORDED} recorded processes (${LIVE} of them running, no program behind them), ${CLIENTS} clients for ${SECONDS} s each; ` +
      `orchestrator idle: ${idleCpuMsPerS.toFixed(0)} ms CPU/s; load ${loadavg()[0]!.toFixed(1)}\n`,
  );
  console.log(markdownTable(['request', 'list', 'rows', 'KiB', 'requests/s', 'p50 ms', 'p99 ms', 'server CPU ms/request', 'requests/s per core'], lists));
  console.log(`\nwatch stream (GET /v1/events?follow=true): delivery delay, an event recorded every 5 ms\n`);
  console.log(markdownTable(['watchers', 'events', 'deliveries', 'p50 ms', 'p99 ms', 'max ms'], [delivery]));
} finally {
  agents.close();
  rmSync(dir, { recursive: true, force: true });
}
// the in-process orchestrator's timers may outlive its close by a tick
process.exit(0);
