/**
 * What the benchmarks share: a two-node local cluster, the orchestrator's API, memhog programs
 * started on the source node, and the by-hand steps of the bare-CRIU baselines (a restore into
 * the destination node through the keeper, the clean-up the agent would do).
 */
import { execa } from 'execa';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentConfig, AgentProc, OrchestratorConfig, Process, StreamInodes } from '@godwit/schemas';
import { type Fetch, fetchOver } from '@godwit/schemas/tls';
import { type Criu, createCriu } from '../agent/src/criu.js';
import { readCriuLog } from '../agent/src/criu-log.js';
import { parseCriuLockTables } from '../agent/src/nft.js';
import { clusterDown, clusterUp, type ClusterInfo } from '../cli/src/cluster/index.js';

export const REPO = join(import.meta.dirname, '..');
const MEMHOG = join(REPO, 'bench', 'bin', 'memhog');
export const IN_NODE = join(REPO, 'bench', 'in-node.sh');
const KEEPER = join(REPO, 'agent', 'keeper', 'godwit-keeper');
export const criu = createCriu('/usr/local/sbin/criu');

type Node = ClusterInfo['nodes'][number];

export async function deadline<T>(what: string, probe: () => Promise<T | undefined>, ms = 120_000, intervalMs = 20): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

/**
 * Fills and frees `mib` of memory, outside any node, before a measured step. This machine is a
 * virtual machine whose memory beyond what was in use lately comes from its host at about
 * 0.3 GB/s instead of 2 GB/s (a third GiB written to a tmpfs right after two others took 2-3.7 s,
 * the first two 0.4-0.5 s): without this, whichever step first needs more memory than the one
 * before it pays for that, whatever it does.
 */
export async function warmMemory(mib: number): Promise<void> {
  const hog = execa(MEMHOG, [String(mib), '600'], { reject: false, stdin: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    hog.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    void hog.then((r) => reject(new Error(`memhog ${mib} exited before it was ready: ${r.stderr || r.exitCode}`)));
  });
  hog.kill('SIGKILL');
  await hog;
}

export interface BenchCluster {
  home: string;
  info: ClusterInfo;
  src: Node;
  dst: Node;
  call<T>(method: string, path: string, body?: unknown, token?: string): Promise<T>;
  /** fetch trusting the cluster's CA, with the orchestrator's certificate */
  fetch: Fetch;
  /** memhog of `mib` MiB on the source node, once its memory is filled; the token's user owns it */
  start(mib: number, token?: string): Promise<Process>;
  stop(id: number): Promise<unknown>;
  /** where a node's agent keeps a lazy move's images (its runDir, a tmpfs) */
  runDir(node: Node): string;
  /** a request to a node's agent, with the node's token (the orchestrator's part left out) */
  agentFetch(node: Node, path: string, init?: { method?: string; body?: unknown }): Promise<Response>;
  /** the source agent's record of a running program (its host PIDs and stream inodes) */
  agentProc(id: number): Promise<AgentProc>;
  /** runs `criu restore` by hand in the destination node, as the keeper does; resolves when it runs */
  /** controlMounts: where the program saw its control directory (controlMountsOf, read before its dump) */
  /** with: which CRIU (godwit's by default) */
  bareRestore(opts: { imagesDir: string; keeperDir: string; inodes: StreamInodes; controlMounts: readonly string[]; lazy?: boolean; with?: Criu }): Promise<number>;
  /** deletes the network lock table a by-hand dump left in the source node */
  dropLockTables(): Promise<void>;
  close(): Promise<void>;
}

/** tls: false brings the cluster up in clear text (`cluster up --no-tls`) */
export async function openBenchCluster(id: number, memMiB: number, nodeCount = 2, cpus = 1, { tls = true }: { tls?: boolean } = {}): Promise<BenchCluster> {
  const home = mkdtempSync(join(tmpdir(), 'godwit-bench-'));
  // the components' logs outlive the cluster, as the tests' do, to see afterwards what happened
  const kept = join(tmpdir(), `godwit-bench-logs-${id}`);
  const keepLogs = (logsDir: string) => {
    rmSync(kept, { recursive: true, force: true });
    if (existsSync(logsDir)) cpSync(logsDir, kept, { recursive: true });
    rmSync(home, { recursive: true, force: true });
  };
  let info: ClusterInfo;
  try {
    info = await clusterUp({ home, id, nodes: nodeCount, cpus, memMiB, tls, log: () => undefined });
  } catch (err) {
    // clusterUp removed what it made but its home
    keepLogs(join(home, 'logs'));
    throw new Error(`the cluster did not start (its logs: ${kept}): ${(err as Error).message}`);
  }
  const orchestratorConfig = JSON.parse(readFileSync(join(home, 'orchestrator', 'config.json'), 'utf8')) as OrchestratorConfig;
  const nodeToken = (name: string) => orchestratorConfig.nodes.find((n) => n.name === name)!.token;
  const [src, dst] = info.nodes as [Node, Node];
  // as a client would (the cluster's CA), and toward the agents with the orchestrator's certificate
  const files = orchestratorConfig.tls;
  const fetch = fetchOver(files ? { ca: readFileSync(files.caFile), cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) } : undefined);

  const request = async <T>(method: string, path: string, body: unknown, base: string, token: string): Promise<T> => {
    const res = await fetch(new URL(path, base), {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  const call = <T>(method: string, path: string, body?: unknown, token = info.client.token) => request<T>(method, path, body, info.url, token);
  const output = async (pid: number, token: string) => {
    const text = await (await fetch(new URL(`/v1/processes/${pid}/output?follow=false`, info.url), { headers: { authorization: `Bearer ${token}` } })).text();
    return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { data?: string }).map((l) => (l.data ? Buffer.from(l.data, 'base64').toString() : '')).join('');
  };

  return {
    home,
    info,
    src,
    dst,
    call,
    fetch,
    async start(mib, token = info.client.token) {
      const p = await call<Process>('POST', '/v1/processes', { argv: [MEMHOG, String(mib), '600'], cwd: '/tmp', node: src.name }, token);
      await deadline(`memhog ${mib} to be ready`, async () => ((await output(p.id, token)).includes('ready') ? true : undefined));
      return p;
    },
    stop: (pid) => call('POST', `/v1/processes/${pid}/signal`, { signal: 'SIGKILL' }).catch(() => undefined),
    runDir(node) {
      const config = JSON.parse(readFileSync(join(home, 'nodes', node.name, 'config.json'), 'utf8')) as AgentConfig;
      return config.runDir ?? config.dataDir;
    },
    agentFetch: (node, path, init = {}) =>
      fetch(new URL(path, node.url), {
        method: init.method ?? 'GET',
        headers: { authorization: `Bearer ${nodeToken(node.name)}`, ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
      }),
    async agentProc(pid) {
      const procs = await request<AgentProc[]>('GET', '/v1/procs', undefined, src.url, nodeToken(src.name));
      return procs.find((x) => x.id === pid && x.state === 'running')!;
    },
    async bareRestore({ imagesDir, keeperDir, inodes, controlMounts, lazy, with: which = criu }) {
      const pidfile = join(imagesDir, 'restore.pid');
      // the program's control directory is a mount CRIU leaves out of the images: by hand it gets an empty one
      const control = join(imagesDir, 'control-view');
      mkdirSync(control, { recursive: true });
      // CRIU mounts it where the program had it: that directory went when the program ended there
      for (const at of controlMounts) mkdirSync(at, { recursive: true });
      await execa(IN_NODE, [dst.netns, ...dst.cgroups, '--', KEEPER, keeperDir, '1', 'restore', pidfile, '--',
        ...which.restoreArgv({ imagesDir, logName: 'restore.log', pidfile, inodes, lazy, control })], { detached: true, stdio: 'ignore', reject: false }).unref?.();
      // looked at every millisecond: the program's stopped time runs until this sees it started
      return deadline('the bare restore', async () => {
        try {
          const ev = readFileSync(join(keeperDir, 'status.1'), 'utf8');
          if (ev.includes('restore-failed')) {
            const log = await readCriuLog(join(imagesDir, 'restore.log'));
            throw new Error(`bare restore failed: ${log.reasons.join('; ') || `see ${imagesDir}/restore.log`}`);
          }
          const m = /"started","pid":(\d+)/.exec(ev);
          return m ? Number(m[1]) : undefined;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
          throw err;
        }
      }, 120_000, 1);
    },
    async dropLockTables() {
      const listing = await execa(IN_NODE, [src.netns, '--', 'nft', 'list', 'tables']);
      for (const table of parseCriuLockTables(listing.stdout)) await execa(IN_NODE, [src.netns, '--', 'nft', 'delete', 'table', 'inet', table]);
    },
    async close() {
      await clusterDown({ home, log: () => undefined });
      keepLogs(info.logsDir);
    },
  };
}
