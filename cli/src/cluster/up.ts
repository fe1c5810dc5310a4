/**
 * `cluster up`: a simulated cluster on one machine: a bridge, one network namespace and control
 * group per node, the orchestrator in the root namespace and an agent in each node's namespace.
 * Each piece is recorded in the state file before it is made, so that `down` can undo it.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLUSTER_KEY_BYTES, type ClientConfig, type Node } from '@godwit/schemas';
import { GodwitClient } from '../client.js';
import { CliError } from '../errors.js';
import { say } from '../output.js';
import { godwitHome, repoRoot } from '../paths.js';
import * as cg from './cgroups.js';
import { envNumber, requireFile, requireRoot, validate } from './checks.js';
import { agentMain, orchestratorMain, startAgent, startOrchestrator } from './components.js';
import { makeClusterCerts } from './certs.js';
import { DEFAULT_TINI, findCriu, writeConfigs } from './configs.js';
import type { Daemon } from './daemon.js';
import { clusterDown, holderAlive } from './down.js';
import { ensureGuestAccount, GUEST_ACCOUNT } from './guest-account.js';
import { reclaimLeftDirs } from './leftovers.js';
import { AGENT_PORT, CONTROL_ROOT, controlDirOf, names, ORCHESTRATOR_PORT, SOCKET_ROOT, socketDirOf, socketOf } from './names.js';
import { makeNetwork, type Make } from './network.js';
import { isAlive, startTime } from './procs.js';
import { waitFor } from './readiness.js';
import { homePaths, readState, writeJson, type ClusterState, type Component } from './state.js';

const READY_TIMEOUT_MS = 60_000;

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
  /** false: a clear-text cluster (`up --no-tls`); default: its own CA and certificates (certs.ts) */
  tls?: boolean;
  /**
   * a simulation of nodes with lesser CPUs: node name -> CPU features its agent reports as absent
   * (AgentConfig.cpuFeatureMask), so that refusals of a CPU that lacks them can be tried here
   */
  cpuFeatureMask?: Readonly<Record<string, readonly string[]>>;
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
  const log = opts.log ?? say;
  const id = opts.id ?? envNumber('GODWIT_CLUSTER_ID') ?? 1;
  const nodeCount = opts.nodes ?? envNumber('GODWIT_NODES') ?? 3;
  const cpus = opts.cpus ?? 1;
  const memMiB = opts.memMiB ?? 2048;
  validate({ id, nodes: nodeCount, cpus, memMiB });
  const unknownMasked = Object.keys(opts.cpuFeatureMask ?? {}).filter((n) => !Array.from({ length: nodeCount }, (_, i) => names.node(i)).includes(n));
  if (unknownMasked.length) throw new CliError(`--mask-cpu names no node of this cluster: ${unknownMasked.join(', ')} (the nodes are node0..node${nodeCount - 1})`);
  requireRoot('cluster up');
  const repo = opts.repo ?? repoRoot();
  const home = opts.home ?? godwitHome();
  const p = homePaths(home);
  const keeperPath = path.join(repo, 'agent', 'keeper', 'godwit-keeper');
  requireFile(orchestratorMain(repo), 'build first (`npm run build`)');
  requireFile(agentMain(repo), 'build first (`npm run build`)');
  requireFile(keeperPath, 'build first (`npm run build`, which also makes agent/keeper)');
  requireFile(DEFAULT_TINI, 'prepare the host first (`bash deploy/host/prepare.sh`)');
  const criuPath = findCriu();

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
  const scheme = opts.tls === false ? 'http' : 'https';
  const state: ClusterState = {
    version: 1,
    id,
    createdAt: new Date().toISOString(),
    repo,
    subnet: names.subnet(id),
    orchestratorUrl: `${scheme}://${names.gateway(id)}:${ORCHESTRATOR_PORT}`,
    nodes: Array.from({ length: nodeCount }, (_, i) => ({
      name: names.node(i),
      netns: names.netns(id, i),
      veth: names.veth(id, i),
      address: names.address(id, i),
      url: `${scheme}://${names.address(id, i)}:${AGENT_PORT}`,
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
  const make: Make = async (r, create) => {
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
    const guestAccount = { name: GUEST_ACCOUNT, ...(await ensureGuestAccount()) };
    const certs = opts.tls === false
      ? null
      : await makeClusterCerts(p.tls, { orchestratorAddress: names.gateway(id), nodes: state.nodes });
    if (!certs) log('TLS is off (--no-tls): tokens, images and programs\' memory cross the cluster in clear text');
    const configs = writeConfigs(state, p, { keeperPath, criuPath, controlDir, certs, cpuFeatureMask: opts.cpuFeatureMask ?? {} });
    const { client, guest, admin } = configs;
    checkAbort();

    const deadline = Date.now() + (opts.readyTimeoutMs ?? READY_TIMEOUT_MS);
    const api = new GodwitClient(client, { timeoutMs: 2000 });
    const record = (role: Component['role'], name: string, d: Daemon, logFile: string) => {
      state.components.push({ role, name, pid: d.pid, startTime: startTime(d.pid) ?? '', log: logFile });
      save();
    };

    const orchestratorLog = path.join(p.logs, 'orchestrator.log');
    const orch = await startOrchestrator(repo, id, layout, configs.orchestratorConfigPath, orchestratorLog);
    record('orchestrator', 'orchestrator', orch, orchestratorLog);
    log(`orchestrator started (pid ${orch.pid}), log ${orchestratorLog}`);
    await waitFor(async () => {
      await api.listNodes();
      return true;
    }, { deadline, signal: opts.signal, watch: state, what: `the orchestrator to answer at ${state.orchestratorUrl}` });

    for (const [i, n] of state.nodes.entries()) {
      const logFile = path.join(p.logs, `${n.name}.log`);
      const d = await startAgent(repo, n.netns, configs.agentConfigPaths[i]!, logFile);
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
