/**
 * A simulated cluster on one machine: a bridge, one network namespace and control group per
 * node, the orchestrator in the root namespace and an agent in each node's namespace.
 * `clusterUp` and `clusterDown` are what `godwit cluster up|down` run, and what tests call.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLUSTER_KEY_BYTES, type AgentConfig, type ClientConfig, type Node, type OrchestratorConfig } from '@godwit/schemas';
import { GodwitClient } from '../client.js';
import { CliError, UsageError } from '../errors.js';
import { godwitHome, repoRoot } from '../paths.js';
import * as cg from './cgroups.js';
import { startDaemon, type Daemon } from './daemon.js';
import { ensureGuestAccount, GUEST_ACCOUNT } from './guest-account.js';

/** where the local clusters' control directories go, one folder each */
const CONTROL_ROOT = '/run/godwit-control';
const controlDirOf = (id: number) => path.join(CONTROL_ROOT, `cluster-${id}`);
/** where the local clusters' agents take their nodes' users' calls without a token, a folder each */
const SOCKET_ROOT = '/run/godwit-sock';
const socketDirOf = (id: number) => path.join(SOCKET_ROOT, `cluster-${id}`);
const socketOf = (id: number, node: string) => path.join(socketDirOf(id), `${node}.sock`);
import * as ip from './ip.js';
import { reclaimLeftDirs } from './leftovers.js';
import { detachLeftMounts, mountsUnder } from './mounts.js';
import { startInNetns } from './nsenter.js';
import { isAlive, kill, startTime, terminate } from './procs.js';
import { homePaths, readState, writeJson, type ClusterState, type Component, type HomePaths, type Resource } from './state.js';

export type { ClusterState } from './state.js';

export const ORCHESTRATOR_PORT = 7700;
export const AGENT_PORT = 7701;
const READY_TIMEOUT_MS = 60_000;
const DEFAULT_CRIU = '/usr/local/sbin/criu';
const DEFAULT_TINI = '/usr/bin/tini';

export interface UpOptions {
  nodes?: number;
  id?: number;
  /** CPUs per node */
  cpus?: number;
  /** memory per node, MiB */
  memMiB?: number;
  home?: string;
  repo?: string;
  /** progress lines; default: stderr with a `godwit: ` prefix */
  log?: (line: string) => void;
  /** aborts a start in progress: what was made is removed and the promise rejects */
  signal?: AbortSignal;
  /** keep what was made when the start fails (for debugging); default false */
  keepOnFailure?: boolean;
  readyTimeoutMs?: number;
}

export interface ClusterInfo {
  id: number;
  home: string;
  url: string;
  /** socket: the agent's local socket, where a user of the machine needs no token (as on a node) */
  nodes: { name: string; address: string; url: string; netns: string; cgroups: string[]; socket: string }[];
  client: ClientConfig;
  /** the second, ordinary user, for tests of isolation */
  guest: ClientConfig;
  /** the root of the programs' control directories (GODWIT_CONTROL=<controlDir>/<id>) */
  controlDir: string;
  /** the unprivileged Unix account the guest's programs run as */
  guestAccount: { name: string; uid: number; gid: number };
  /** an administrator: sees and acts on every user's processes (`mosps -a`) */
  admin: ClientConfig;
  clientConfigPath: string;
  guestConfigPath: string;
  adminConfigPath: string;
  statePath: string;
  logsDir: string;
  state: ClusterState;
}

export interface DownOptions {
  home?: string;
  /** the cluster to remove when no state file says which (sweeps its names) */
  id?: number;
  log?: (line: string) => void;
  graceMs?: number;
}

export interface DownReport {
  id: number | null;
  removed: string[];
  problems: string[];
}

function defaultLog(line: string): void {
  process.stderr.write(`godwit: ${line}\n`);
}

export function envNumber(name: string, env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`${name}=${v} is not a number`);
  return n;
}

export const names = {
  bridge: (id: number) => `gw${id}br`,
  netns: (id: number, i: number) => `gw${id}n${i}`,
  veth: (id: number, i: number) => `gw${id}v${i}`,
  peer: (id: number, i: number) => `gw${id}p${i}`,
  node: (i: number) => `node${i}`,
  subnet: (id: number) => `10.77.${id}.0/24`,
  gateway: (id: number) => `10.77.${id}.1`,
  address: (id: number, i: number) => `10.77.${id}.${10 + i}`,
};

function token(): string {
  return crypto.randomBytes(24).toString('base64url');
}

function findCriu(): string {
  try {
    fs.accessSync(DEFAULT_CRIU, fs.constants.X_OK);
    return DEFAULT_CRIU;
  } catch {
    return 'criu';
  }
}

function tail(file: string, lines = 15): string[] {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines);
  } catch {
    return [`(no log at ${file})`];
  }
}

function validate(opts: { nodes: number; id: number; cpus: number; memMiB: number }): void {
  if (!Number.isInteger(opts.id) || opts.id < 1 || opts.id > 200) throw new UsageError(`cluster id must be 1..200, not ${opts.id}`);
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > 64) throw new UsageError(`nodes must be 1..64, not ${opts.nodes}`);
  if (!(opts.cpus > 0) || opts.cpus > 1024) throw new UsageError(`cpus per node must be a positive number, not ${opts.cpus}`);
  if (!Number.isInteger(opts.memMiB) || opts.memMiB < 16) throw new UsageError(`memory per node must be at least 16 MiB, not ${opts.memMiB}`);
}

function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    throw new CliError(`${what} needs root (network namespaces, control groups, CRIU): run it with sudo`);
  }
}

function requireFile(file: string, hint: string): void {
  if (!fs.existsSync(file)) throw new CliError(`${file} is missing: ${hint}`);
}

function holderAlive(state: ClusterState): boolean {
  return state.holder !== null && state.holder.pid !== process.pid && isAlive(state.holder.pid, state.holder.startTime);
}

function anyAlive(state: ClusterState): boolean {
  return state.components.some((c) => isAlive(c.pid, c.startTime)) || holderAlive(state);
}

/** Records (or clears) the foreground process that holds the cluster, so `down` asks it to stop. */
export function setHolder(home: string, pid: number | null): void {
  const p = homePaths(home);
  const state = readState(p.state);
  if (!state) return;
  const since = pid === null ? null : startTime(pid);
  state.holder = pid === null || since === null ? null : { pid, startTime: since };
  writeJson(p.state, state);
}

/** Brings a cluster up and returns once every node is online; the components keep running after. */
export async function clusterUp(opts: UpOptions = {}): Promise<ClusterInfo> {
  const log = opts.log ?? defaultLog;
  const id = opts.id ?? envNumber('GODWIT_CLUSTER_ID') ?? 1;
  const nodeCount = opts.nodes ?? envNumber('GODWIT_NODES') ?? 3;
  const cpus = opts.cpus ?? 1;
  const memMiB = opts.memMiB ?? 2048;
  validate({ id, nodes: nodeCount, cpus, memMiB });
  requireRoot('cluster up');
  const repo = opts.repo ?? repoRoot();
  const home = opts.home ?? godwitHome();
  const p = homePaths(home);
  const orchestratorMain = path.join(repo, 'orchestrator', 'dist', 'main.js');
  const agentMain = path.join(repo, 'agent', 'dist', 'main.js');
  const keeperPath = path.join(repo, 'agent', 'keeper', 'godwit-keeper');
  requireFile(orchestratorMain, 'build first (`npm run build`)');
  requireFile(agentMain, 'build first (`npm run build`)');
  requireFile(keeperPath, 'build first (`npm run build`, which also makes agent/keeper)');
  requireFile(DEFAULT_TINI, 'prepare the host first (`bash deploy/host/prepare.sh`)');

  const previous = readState(p.state);
  if (previous) {
    if (anyAlive(previous)) {
      throw new CliError(`cluster ${previous.id} is already up (state in ${p.state}): use it, or \`godwit cluster down\` first`);
    }
    log(`removing what a previous cluster ${previous.id} left behind`);
    await clusterDown({ home, log });
  }
  // before anything is made: a cluster of this ID up from another home shares its network names too
  await reclaimLeftDirs(id, [controlDirOf(id), socketDirOf(id)], socketDirOf(id), log);

  const layout = cg.detectCgroups();
  const state: ClusterState = {
    version: 1,
    id,
    createdAt: new Date().toISOString(),
    repo,
    subnet: names.subnet(id),
    orchestratorUrl: `http://${names.gateway(id)}:${ORCHESTRATOR_PORT}`,
    nodes: Array.from({ length: nodeCount }, (_, i) => ({
      name: names.node(i),
      netns: names.netns(id, i),
      veth: names.veth(id, i),
      address: names.address(id, i),
      url: `http://${names.address(id, i)}:${AGENT_PORT}`,
      cgroups: cg.nodeDirs(layout, id, names.node(i)),
    })),
    cpus,
    memMiB,
    cgroupVersion: layout.version,
    resources: [],
    components: [],
    ready: false,
    holder: null,
  };
  fs.mkdirSync(p.clusterDir, { recursive: true, mode: 0o700 });
  fs.mkdirSync(p.logs, { recursive: true });
  const save = () => writeJson(p.state, state);
  /** Records a resource, then makes it: a crash in between leaves a record of something absent, which down tolerates. */
  const make = async (r: Resource, create: () => Promise<void> | void) => {
    if (!state.resources.some((x) => JSON.stringify(x) === JSON.stringify(r))) {
      state.resources.push(r);
      save();
    }
    await create();
  };
  const checkAbort = () => {
    if (opts.signal?.aborted) throw new CliError('interrupted while starting the cluster');
  };
  save();

  try {
    log(`cluster ${id}: ${nodeCount} node(s), ${cpus} CPU and ${memMiB} MiB each, on ${state.subnet}`);
    await makeNetwork(state, make);
    checkAbort();
    await makeCgroups(state, layout, make);
    checkAbort();

    // Configuration: fresh tokens at every start.
    await make({ kind: 'dir', path: p.orchestratorDir }, () => void fs.mkdirSync(path.join(p.orchestratorDir, 'data'), { recursive: true, mode: 0o700 }));
    await make({ kind: 'dir', path: p.nodesDir }, () => void fs.mkdirSync(p.nodesDir, { recursive: true, mode: 0o700 }));
    // checkpoints outlive the cluster (a user recovers from them after a restart): not a resource
    fs.mkdirSync(p.checkpoints, { recursive: true, mode: 0o700 });
    // made once, and kept with them: a new key would make every earlier checkpoint unusable
    if (!fs.existsSync(p.clusterKey)) fs.writeFileSync(p.clusterKey, crypto.randomBytes(CLUSTER_KEY_BYTES), { mode: 0o600, flag: 'wx' });
    // the programs' control directories, shared by the simulated nodes as one file system: out
    // of the home (root's), on a path every user's program can traverse to its own
    const controlDir = controlDirOf(id);
    fs.mkdirSync(CONTROL_ROOT, { recursive: true, mode: 0o711 });
    await make({ kind: 'dir', path: controlDir }, () => void fs.mkdirSync(controlDir, { mode: 0o711 }));
    // the agents' local sockets: anyone may traverse to them, and connect (the kernel says who did)
    fs.mkdirSync(SOCKET_ROOT, { recursive: true, mode: 0o755 });
    await make({ kind: 'dir', path: socketDirOf(id) }, () => void fs.mkdirSync(socketDirOf(id), { mode: 0o755 }));
    const userName = process.env.SUDO_USER || process.env.USER || 'root';
    const guestAccount = { name: GUEST_ACCOUNT, ...(await ensureGuestAccount()) };
    const userToken = token();
    const guestToken = token();
    const adminToken = token();
    const nodeTokens = state.nodes.map(() => token());
    const orchestratorConfig: OrchestratorConfig = {
      listen: { host: names.gateway(id), port: ORCHESTRATOR_PORT },
      dataDir: path.join(p.orchestratorDir, 'data'),
      // each user's programs run as a Unix account: the person's own, an unprivileged one for
      // the guest, root for the administrator (as MOSIX's mosctl is root's)
      users: [
        { name: userName, token: userToken },
        { name: 'guest', token: guestToken, account: GUEST_ACCOUNT },
        { name: 'admin', token: adminToken, admin: true, account: 'root' },
      ],
      nodes: state.nodes.map((n, i) => ({ name: n.name, url: n.url, token: nodeTokens[i]! })),
      nodeTimeoutMs: 5000,
      // a simulated node that stops reporting was stopped for good: recover its processes soon
      nodeLostMs: 15_000,
      checkpointDir: p.checkpoints,
    };
    const orchestratorConfigPath = path.join(p.orchestratorDir, 'config.json');
    writeJson(orchestratorConfigPath, orchestratorConfig);
    const criuPath = findCriu();
    // each agent mounts its own tmpfs there; `down` detaches it
    const runDir = (name: string) => path.join(p.nodesDir, name, 'run');
    const agentConfigPaths = state.nodes.map((n, i) => {
      const dir = path.join(p.nodesDir, n.name);
      fs.mkdirSync(path.join(dir, 'data'), { recursive: true, mode: 0o700 });
      const config: AgentConfig = {
        node: n.name,
        listen: { host: n.address, port: AGENT_PORT },
        url: n.url,
        token: nodeTokens[i]!,
        clusterKeyFile: p.clusterKey,
        orchestrator: { url: state.orchestratorUrl },
        dataDir: path.join(dir, 'data'),
        runDir: runDir(n.name),
        criuPath,
        keeperPath,
        tiniPath: DEFAULT_TINI,
        cgroups: n.cgroups,
        cpuCapacity: cpus,
        memLimitBytes: memMiB * 1024 * 1024,
        // the simulated nodes share one file system: one directory serves them all, as shared
        // storage would across machines
        checkpointDir: p.checkpoints,
        controlDir,
        localSocket: socketOf(id, n.name),
      };
      const file = path.join(dir, 'config.json');
      writeJson(file, config);
      return file;
    });
    const client: ClientConfig = { url: state.orchestratorUrl, token: userToken, user: userName, homeNode: 'node0' };
    const guest: ClientConfig = { url: state.orchestratorUrl, token: guestToken, user: 'guest', homeNode: 'node0' };
    const admin: ClientConfig = { url: state.orchestratorUrl, token: adminToken, user: 'admin', homeNode: 'node0' };
    checkAbort();

    const deadline = Date.now() + (opts.readyTimeoutMs ?? READY_TIMEOUT_MS);
    const api = new GodwitClient(client, { timeoutMs: 2000 });
    const record = (role: Component['role'], name: string, d: Daemon, logFile: string) => {
      state.components.push({ role, name, pid: d.pid, startTime: startTime(d.pid) ?? '', log: logFile });
      save();
    };

    const orchestratorLog = path.join(p.logs, 'orchestrator.log');
    const orch = await startDaemon(process.execPath, [orchestratorMain, '--config', orchestratorConfigPath], orchestratorLog);
    record('orchestrator', 'orchestrator', orch, orchestratorLog);
    cg.joinGroup(cg.orchestratorDir(layout, id), orch.pid);
    log(`orchestrator started (pid ${orch.pid}), log ${orchestratorLog}`);
    await waitFor(async () => {
      await api.listNodes();
      return true;
    }, { deadline, signal: opts.signal, watch: state, what: `the orchestrator to answer at ${state.orchestratorUrl}` });

    for (const [i, n] of state.nodes.entries()) {
      const logFile = path.join(p.logs, `${n.name}.log`);
      const d = await startInNetns(n.netns, [process.execPath, agentMain, '--config', agentConfigPaths[i]!], logFile);
      record('agent', n.name, d, logFile);
      log(`agent ${n.name} started in ${n.netns} (pid ${d.pid}), log ${logFile}`);
    }
    let seen: Node[] = [];
    await waitFor(async () => {
      seen = await api.listNodes();
      return state.nodes.every((n) => seen.find((s) => s.name === n.name)?.state === 'online');
    }, {
      deadline,
      signal: opts.signal,
      watch: state,
      what: 'every node to come online',
      describe: () => {
        const offline = state.nodes.filter((n) => seen.find((s) => s.name === n.name)?.state !== 'online').map((n) => n.name);
        return { message: `node(s) never came online: ${offline.join(', ')}`, logs: offline };
      },
    });

    writeJson(p.clientConfig, client);
    writeJson(p.guestConfig, guest);
    writeJson(p.adminConfig, admin);
    state.ready = true;
    save();
    return {
      id,
      home,
      url: state.orchestratorUrl,
      nodes: state.nodes.map(({ name, address, url, netns, cgroups }) => ({ name, address, url, netns, cgroups, socket: socketOf(id, name) })),
      client,
      guest,
      controlDir,
      guestAccount,
      admin,
      clientConfigPath: p.clientConfig,
      guestConfigPath: p.guestConfig,
      adminConfigPath: p.adminConfig,
      statePath: p.state,
      logsDir: p.logs,
      state,
    };
  } catch (err) {
    if (opts.keepOnFailure) {
      log(`start failed; leaving what was made in place (\`godwit cluster down\` removes it)`);
    } else {
      log('start failed; removing what was made');
      await clusterDown({ home, log });
    }
    throw err;
  }
}

type Make = (r: Resource, create: () => Promise<void> | void) => Promise<void>;

/**
 * The nodes' links carry frames of up to 64 KiB, as loopback does (its MTU is 65536): they are
 * virtual, each frame costs about the same whatever its size, and 1500 bytes is a limit of
 * Ethernet hardware they do not have. With 1500-byte frames the receiving side of a lazy move
 * spent a quarter of its receiving time sending acknowledgements, and memory followed a program at
 * 0.71 GB/s against 0.85 (1 GiB, median of 5 runs side by side; 0.79 with 9000-byte jumbo frames).
 */
const LINK_MTU = 65535;

/**
 * Each node's namespace gets a TCP connection table of its own. At every dump CRIU lists the
 * sockets of its namespace (sock_diag), which walks the whole table; a namespace shares the
 * host's unless made with `tcp_child_ehash_entries` set (Linux 6.1+), and the host's (262144
 * buckets here, sized by its memory) took 3 ms per address family: 6 ms of every dump while the
 * program was stopped. A table of 8192 takes 0.7 ms, and holds thousands of connections.
 */
const NODE_TCP_EHASH = 8192;
const CHILD_EHASH = '/proc/sys/net/ipv4/tcp_child_ehash_entries';

async function addNodeNetns(name: string): Promise<void> {
  // read when a namespace is made: set for this one only, then the host's value again
  const before = fs.existsSync(CHILD_EHASH) ? fs.readFileSync(CHILD_EHASH, 'utf8').trim() : undefined;
  if (before !== undefined) fs.writeFileSync(CHILD_EHASH, String(NODE_TCP_EHASH));
  try {
    await ip.addNetns(name);
  } finally {
    if (before !== undefined) fs.writeFileSync(CHILD_EHASH, before);
  }
}

async function makeNetwork(state: ClusterState, make: Make): Promise<void> {
  const bridge = names.bridge(state.id);
  await make({ kind: 'bridge', name: bridge }, async () => {
    if (!(await ip.linkExists(bridge))) await ip.addBridge(bridge);
    await ip.setMtu(bridge, LINK_MTU);
    await ip.setAddress(`${names.gateway(state.id)}/24`, bridge);
    await ip.setUp(bridge);
  });
  const existingNetns = await ip.listNetns();
  for (const [i, n] of state.nodes.entries()) {
    await make({ kind: 'netns', name: n.netns }, async () => {
      if (!existingNetns.includes(n.netns)) await addNodeNetns(n.netns);
    });
    const peer = names.peer(state.id, i);
    await make({ kind: 'veth', name: n.veth }, async () => {
      if (!(await ip.linkExists('eth0', n.netns))) {
        if (!(await ip.linkExists(n.veth))) await ip.addVeth(n.veth, peer);
        if (await ip.linkExists(peer)) await ip.moveLinkToNetns(peer, n.netns);
        await ip.renameLink(peer, 'eth0', n.netns);
      }
      await ip.setMtu(n.veth, LINK_MTU);
      await ip.setMaster(n.veth, bridge);
      await ip.setUp(n.veth);
    });
    await ip.setUp('lo', n.netns);
    await ip.setMtu('eth0', LINK_MTU, n.netns);
    await ip.setAddress(`${n.address}/24`, 'eth0', n.netns);
    await ip.setUp('eth0', n.netns);
    await ip.setDefaultRoute(names.gateway(state.id), n.netns);
  }
}

async function makeCgroups(state: ClusterState, layout: cg.CgroupLayout, make: Make): Promise<void> {
  for (const dir of cg.clusterDirs(layout, state.id)) {
    await make({ kind: 'cgroup', path: dir }, () => cg.makeDir(dir));
    cg.enableV2Controllers(layout, dir);
  }
  const orchestratorDir = cg.orchestratorDir(layout, state.id);
  await make({ kind: 'cgroup', path: orchestratorDir }, () => cg.makeDir(orchestratorDir));
  for (const n of state.nodes) {
    for (const dir of n.cgroups) await make({ kind: 'cgroup', path: dir }, () => cg.makeDir(dir));
    cg.setLimits(layout, n.cgroups, state.cpus, state.memMiB * 1024 * 1024);
  }
}

interface WaitOptions {
  deadline: number;
  signal: AbortSignal | undefined;
  watch: ClusterState;
  what: string;
  describe?: () => { message: string; logs: string[] };
}

/** Polls `probe` until it says yes; fails early when a component dies, with the tail of its log. */
async function waitFor(probe: () => Promise<boolean>, w: WaitOptions): Promise<void> {
  let lastError: string | null = null;
  for (;;) {
    if (w.signal?.aborted) throw new CliError(`interrupted while waiting for ${w.what}`);
    const dead = w.watch.components.filter((c) => !isAlive(c.pid, c.startTime));
    if (dead.length) {
      const details: Record<string, unknown> = {};
      for (const c of dead) details[path.basename(c.log)] = tail(c.log);
      throw new CliError(`${dead.map((c) => (c.role === 'agent' ? `agent of ${c.name}` : c.name) + ` (pid ${c.pid})`).join(', ')} exited while waiting for ${w.what}`, { details });
    }
    try {
      if (await probe()) return;
      lastError = null;
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() > w.deadline) {
      const d = w.describe?.();
      const details: Record<string, unknown> = {};
      if (lastError) details.lastError = lastError;
      const logs = d ? d.logs : ['orchestrator'];
      for (const name of logs) {
        const c = w.watch.components.find((x) => x.name === name);
        if (c) details[path.basename(c.log)] = tail(c.log);
      }
      throw new CliError(`timed out waiting for ${w.what}${d ? `: ${d.message}` : ''}`, { details });
    }
    await sleep(250);
  }
}

/** Removes everything the state file records, and whatever else carries cluster `id`'s names. */
export async function clusterDown(opts: DownOptions = {}): Promise<DownReport> {
  requireRoot('cluster down');
  const log = opts.log ?? defaultLog;
  const home = opts.home ?? godwitHome();
  const p = homePaths(home);
  const state = readState(p.state);
  const id = state?.id ?? opts.id ?? null;
  const report: DownReport = { id, removed: [], problems: [] };
  /** `what` says what was done: "stopped ...", "killed ...", "removed ..." */
  const done = (what: string) => {
    report.removed.push(what);
    log(what);
  };
  const removed = (what: string) => done(`removed ${what}`);
  const problem = (what: string) => {
    report.problems.push(what);
    log(`problem: ${what}`);
  };
  const attempt = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
      removed(what);
    } catch (err) {
      problem(`${what}: ${(err as Error).message}`);
    }
  };

  if (state) {
    // The foreground `cluster up` that holds this cluster tears it down itself on SIGTERM.
    if (state.holder && holderAlive(state)) {
      log(`asking \`cluster up\` (pid ${state.holder.pid}) to stop`);
      await terminate([state.holder], 30_000);
      if (!fs.existsSync(p.state)) {
        done(`stopped \`cluster up\` (pid ${state.holder.pid}), which removed cluster ${state.id}`);
        return report;
      }
    }
    const agents = state.components.filter((c) => c.role === 'agent');
    const orchestrators = state.components.filter((c) => c.role === 'orchestrator');
    for (const group of [agents, orchestrators]) {
      const stopped = await terminate(group, opts.graceMs ?? 5000);
      for (const pid of stopped) {
        const c = group.find((x) => x.pid === pid);
        done(`stopped ${c?.role === 'agent' ? `the agent of ${c.name}` : 'the orchestrator'} (pid ${pid})`);
      }
    }
  }

  if (id !== null) {
    // Control groups: those recorded, and any of this cluster's name in any hierarchy.
    const recorded = (state?.resources ?? []).filter((r): r is Extract<Resource, { kind: 'cgroup' }> => r.kind === 'cgroup').map((r) => r.path);
    const tops = [...new Set([...recorded.filter((d) => path.basename(d) === `godwit-${id}`), ...cg.possibleClusterDirs(id)])];
    const nodeDirs = recorded.filter((d) => !tops.includes(d));
    for (const dir of [...nodeDirs, ...tops]) {
      const r = await cg.removeTree(dir);
      if (r.killed.length) done(`killed processes ${r.killed.join(' ')} left in ${dir}`);
      for (const d of r.removed) removed(`control group ${d}`);
      for (const pr of r.problems) problem(pr);
    }

    const nsPattern = new RegExp(`^gw${id}n\\d+$`);
    const linkPattern = new RegExp(`^gw${id}[vp]\\d+$`);
    const recordedNs = (state?.resources ?? []).flatMap((r) => (r.kind === 'netns' ? [r.name] : []));
    for (const ns of (await ip.listNetns()).filter((n) => nsPattern.test(n) || recordedNs.includes(n))) {
      await attempt(`network namespace ${ns}`, () => ip.deleteNetns(ns));
    }
    const recordedLinks = (state?.resources ?? []).flatMap((r) => (r.kind === 'veth' || r.kind === 'bridge' ? [r.name] : []));
    const links = await ip.listLinks();
    for (const link of links.filter((l) => linkPattern.test(l) || recordedLinks.includes(l) || l === names.bridge(id))) {
      // Deleting a namespace takes its veth peer along; the host end may already be gone.
      if (!(await ip.linkExists(link))) continue;
      await attempt(`link ${link}`, () => ip.deleteLink(link));
    }
  }

  // Configuration (tokens), data, control directories and local sockets; the logs stay for a post-mortem.
  for (const dir of [p.orchestratorDir, p.nodesDir, ...(id !== null ? [controlDirOf(id), socketDirOf(id)] : [])]) {
    if (!fs.existsSync(dir)) continue;
    for (const pr of await detachLeftMounts(dir)) problem(pr);
    const mounts = mountsUnder(dir);
    if (mounts.length) {
      problem(`left ${dir} in place: still mounted there: ${mounts.join(', ')}`);
      continue;
    }
    await attempt(`directory ${dir}`, async () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  for (const file of [p.clientConfig, p.guestConfig, p.adminConfig]) {
    if (fs.existsSync(file)) await attempt(`client configuration ${file}`, async () => fs.rmSync(file, { force: true }));
  }
  if (state) {
    if (report.problems.length) log(`kept ${p.state}: run \`godwit cluster down\` again once the problems above are solved`);
    else if (fs.existsSync(p.state)) await attempt(`cluster state ${p.state}`, async () => fs.rmSync(p.state, { force: true }));
  }
  return report;
}

export interface StatusReport {
  up: boolean;
  id: number | null;
  statePath: string;
  ready: boolean;
  orchestrator: { url: string; pid: number | null; alive: boolean; reachable: boolean; error: string | null } | null;
  nodes: { name: string; address: string; pid: number | null; alive: boolean; state: 'online' | 'offline' | 'unknown' }[];
  /** the foreground `cluster up` holding it, if any */
  holderPid: number | null;
}

/** What is up: the recorded components' PIDs, and each node's state as the orchestrator sees it. */
export async function clusterStatus(opts: { home?: string } = {}): Promise<StatusReport> {
  const home = opts.home ?? godwitHome();
  const p = homePaths(home);
  const state = readState(p.state);
  if (!state) return { up: false, id: null, statePath: p.state, ready: false, orchestrator: null, nodes: [], holderPid: null };
  const comp = (name: string) => state.components.find((c) => c.name === name);
  const orch = comp('orchestrator');
  let apiNodes: Node[] | null = null;
  let error: string | null = null;
  const config = readClientConfig(p.clientConfig) ?? readClientConfigFromOrchestrator(p, state);
  if (config) {
    try {
      apiNodes = await new GodwitClient(config, { timeoutMs: 3000 }).listNodes();
    } catch (err) {
      error = (err as Error).message;
    }
  } else {
    error = 'no token to ask the orchestrator with';
  }
  const orchAlive = !!orch && isAlive(orch.pid, orch.startTime);
  const nodes = state.nodes.map((n) => {
    const c = comp(n.name);
    const seen = apiNodes?.find((x) => x.name === n.name);
    return {
      name: n.name,
      address: n.address,
      pid: c?.pid ?? null,
      alive: !!c && isAlive(c.pid, c.startTime),
      state: seen ? seen.state : ('unknown' as const),
    };
  });
  return {
    up: orchAlive || nodes.some((n) => n.alive),
    id: state.id,
    statePath: p.state,
    ready: state.ready,
    orchestrator: { url: state.orchestratorUrl, pid: orch?.pid ?? null, alive: orchAlive, reachable: apiNodes !== null, error },
    nodes,
    holderPid: state.holder && isAlive(state.holder.pid, state.holder.startTime) ? state.holder.pid : null,
  };
}

function readClientConfig(file: string): ClientConfig | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as ClientConfig;
  } catch {
    return null;
  }
}

function readClientConfigFromOrchestrator(p: HomePaths, state: ClusterState): ClientConfig | null {
  try {
    const c = JSON.parse(fs.readFileSync(path.join(p.orchestratorDir, 'config.json'), 'utf8')) as OrchestratorConfig;
    const u = c.users[0];
    return u ? { url: state.orchestratorUrl, token: u.token, user: u.name, homeNode: 'node0' } : null;
  } catch {
    return null;
  }
}

/** The lines `cluster up` prints once the cluster is ready. */
export function usageText(info: ClusterInfo, opts: { detached: boolean; defaultHome: boolean }): string {
  const bin = path.join(info.state.repo, 'node_modules', '.bin');
  const first = info.nodes[0]?.name ?? 'node0';
  const other = info.nodes[1]?.name ?? first;
  return [
    `cluster ${info.id} is up: ${info.nodes.length} node(s) (${info.nodes.map((n) => n.name).join(', ')}) on ${info.state.subnet}, orchestrator ${info.url}`,
    `  client configuration: ${info.clientConfigPath} (user ${info.client.user}, home node ${first});`,
    `    others: ${info.guestConfigPath} (user guest), ${info.adminConfigPath} (an admin; use with GODWIT_CONFIG=...)`,
    `  no token, as any account of this machine (as on a node): GODWIT_AGENT_SOCKET=${info.nodes[0]?.socket ?? ''} (${first}'s agent)`,
    `  logs: ${info.logsDir}`,
    '',
    'Try, in another terminal:',
    `  export PATH="${bin}:$PATH"${opts.defaultHome ? '' : ` GODWIT_HOME="${info.home}"`}`,
    '  mosrun -v ./my-program ARGS     # run it (on the home node); -r NODE to start elsewhere',
    '  mosps                           # your processes: ID, WHERE, FROM, NMIGS',
    `  mosmigrate ID ${other}              # move one (or: mosmigrate ID home)`,
    '  godwit nodes                    # the nodes and their load',
    `  godwit cluster down             # remove it all${opts.detached ? '' : ' (or Ctrl-C here)'}`,
    '',
  ].join('\n');
}

export function homeIsDefault(home: string): boolean {
  return path.resolve(home) === path.join(os.homedir(), '.godwit');
}

export interface ComponentOptions {
  home?: string;
  /** 'orchestrator' or a node name */
  name: string;
}

function componentOf(opts: ComponentOptions): { p: HomePaths; state: ClusterState; comp: Component } {
  const p = homePaths(opts.home ?? godwitHome());
  const state = readState(p.state);
  if (!state) throw new CliError(`no cluster state at ${p.state}: is a cluster up?`);
  const comp = state.components.find((c) => c.name === opts.name);
  if (!comp) {
    throw new CliError(`cluster ${state.id} has no component ${opts.name}; it has ${state.components.map((c) => c.name).join(', ')}`);
  }
  return { p, state, comp };
}

/** Stops one component (the orchestrator or a node's agent), e.g. to test what survives its crash. */
export async function stopComponent(opts: ComponentOptions & { signal?: 'SIGTERM' | 'SIGKILL' }): Promise<void> {
  const { comp } = componentOf(opts);
  if (opts.signal === 'SIGKILL') {
    kill(comp.pid);
    const deadline = Date.now() + 10_000;
    while (isAlive(comp.pid, comp.startTime)) {
      if (Date.now() > deadline) throw new CliError(`${opts.name} (pid ${comp.pid}) is still alive 10 s after SIGKILL`);
      await sleep(20);
    }
  } else {
    await terminate([comp], 10_000);
  }
}

/** Starts a stopped component again with its recorded configuration, and records its new PID. */
export async function restartComponent(opts: ComponentOptions): Promise<number> {
  const { p, state, comp } = componentOf(opts);
  if (isAlive(comp.pid, comp.startTime)) throw new CliError(`${opts.name} still runs (pid ${comp.pid}); stop it first`);
  let d: Daemon;
  if (comp.role === 'orchestrator') {
    d = await startDaemon(process.execPath, [path.join(state.repo, 'orchestrator', 'dist', 'main.js'), '--config', path.join(p.orchestratorDir, 'config.json')], comp.log);
    cg.joinGroup(cg.orchestratorDir(cg.detectCgroups(), state.id), d.pid);
  } else {
    const node = state.nodes.find((n) => n.name === comp.name)!;
    d = await startInNetns(node.netns, [process.execPath, path.join(state.repo, 'agent', 'dist', 'main.js'), '--config', path.join(p.nodesDir, node.name, 'config.json')], comp.log);
  }
  comp.pid = d.pid;
  comp.startTime = startTime(d.pid) ?? '';
  writeJson(p.state, state);
  return d.pid;
}
