/**
 * The configuration files of a local cluster: the orchestrator's, each agent's, and the clients'
 * (the person's, a guest's, an administrator's), with fresh tokens at every `up`.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { AgentConfig, ClientConfig, OrchestratorConfig } from '@godwit/schemas';
import type { ClusterCerts } from './certs.js';
import { GUEST_ACCOUNT } from './guest-account.js';
import { AGENT_PORT, CONTROL_ROOT, names, ORCHESTRATOR_PORT, SOCKET_ROOT, socketOf } from './names.js';
import { writeJson, type ClusterState, type HomePaths } from './state.js';
import { CliError, isErrno } from '../errors.js';

const DEFAULT_CRIU = '/usr/local/sbin/criu';
export const DEFAULT_TINI = '/usr/bin/tini';

/**
 * what each simulated node has of its own, as a machine would: its scratch directories, its
 * /run, its local data (/dev/shm is each program's own: agent/keeper/keeper-mounts.c)
 */
export const NODE_LOCAL_PATHS = ['/tmp', '/var/tmp', '/run', '/var/local'];
/** where a node keeps them: `cluster down` removes it with the node's directory */
export const nodeLocalDir = (p: HomePaths, node: string) => path.join(p.nodesDir, node, 'local');

function token(): string {
  return crypto.randomBytes(24).toString('base64url');
}

/**
 * $GODWIT_CRIU (a CRIU of one's own build, tried on a cluster without replacing the machine's),
 * else the CRIU prepare.sh installs, else whichever the PATH finds.
 */
export function findCriu(env: NodeJS.ProcessEnv = process.env): string {
  const own = env.GODWIT_CRIU;
  if (own !== undefined) {
    if (!path.isAbsolute(own)) throw new CliError(`GODWIT_CRIU must be the absolute path of a criu binary, not "${own}"`);
    try {
      fs.accessSync(own, fs.constants.X_OK);
    } catch (err) {
      if (!isErrno(err, 'ENOENT', 'EACCES', 'ENOTDIR')) throw err;
      throw new CliError(`GODWIT_CRIU names ${own}, which is not an executable file (${(err as NodeJS.ErrnoException).code})`);
    }
    if (!fs.statSync(own).isFile()) throw new CliError(`GODWIT_CRIU names ${own}, which is not an executable file (not a regular file)`);
    // an agent knows its CRIU daemons by that name (lazy.ts, criuAlive): under another, a lazy
    // move's would look gone at once and its source would let the program go before its memory came
    if (path.basename(own) !== 'criu') throw new CliError(`GODWIT_CRIU names ${own}: the file must be named criu (the agents know a running CRIU by that name); put the build in a directory of its own, as ${path.join(path.dirname(own), path.basename(own) + '.d', 'criu')}`);
    return own;
  }
  try {
    fs.accessSync(DEFAULT_CRIU, fs.constants.X_OK);
    return DEFAULT_CRIU;
  } catch (err) {
    if (!isErrno(err, 'ENOENT', 'EACCES')) throw err;
    return 'criu';
  }
}

export interface ClusterConfigs {
  orchestratorConfigPath: string;
  agentConfigPaths: string[];
  /** the person who brought it up */
  client: ClientConfig;
  guest: ClientConfig;
  admin: ClientConfig;
}

/**
 * Writes the orchestrator's and the agents' configuration; returns the clients' (written once the
 * cluster is ready). `certs`: null for a clear-text cluster (`up --no-tls`).
 */
export function writeConfigs(
  state: ClusterState,
  p: HomePaths,
  opts: { keeperPath: string; criuPath: string; controlDir: string; certs: ClusterCerts | null; cpuFeatureMask: Readonly<Record<string, readonly string[]>> },
): ClusterConfigs {
  const { certs } = opts;
  const userName = process.env.SUDO_USER || process.env.USER || 'root';
  const userToken = token();
  const guestToken = token();
  const adminToken = token();
  const nodeTokens = state.nodes.map(() => token());
  const orchestratorConfig: OrchestratorConfig = {
    listen: { host: names.gateway(state.id), port: ORCHESTRATOR_PORT },
    tls: certs ? certs.orchestrator : false,
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
    // programs started with --ip get one of these on the cluster's bridge, reached through the host
    addresses: { ...names.programAddresses(state.id), prefixLength: 24, gateway: names.gateway(state.id) },
  };
  const orchestratorConfigPath = path.join(p.orchestratorDir, 'config.json');
  writeJson(orchestratorConfigPath, orchestratorConfig);
  const agentConfigPaths = state.nodes.map((n, i) => {
    const dir = path.join(p.nodesDir, n.name);
    fs.mkdirSync(path.join(dir, 'data'), { recursive: true, mode: 0o700 });
    const config: AgentConfig = {
      node: n.name,
      tls: certs?.nodes.get(n.name) ?? false,
      listen: { host: n.address, port: AGENT_PORT },
      url: n.url,
      token: nodeTokens[i]!,
      clusterKeyFile: p.clusterKey,
      orchestrator: { url: state.orchestratorUrl },
      dataDir: path.join(dir, 'data'),
      // each agent mounts its own tmpfs there; `down` detaches it
      runDir: path.join(dir, 'run'),
      criuPath: opts.criuPath,
      keeperPath: opts.keeperPath,
      tiniPath: DEFAULT_TINI,
      cgroups: n.cgroups,
      cpuCapacity: state.cpus,
      memLimitBytes: state.memMiB * 1024 * 1024,
      // the simulated nodes share one file system: one directory serves them all, as shared
      // storage would across machines
      checkpointDir: p.checkpoints,
      controlDir: opts.controlDir,
      localSocket: socketOf(state.id, n.name),
      ...(opts.cpuFeatureMask[n.name]?.length ? { cpuFeatureMask: [...opts.cpuFeatureMask[n.name]!] } : {}),
      nodeLocal: { dir: nodeLocalDir(p, n.name), paths: NODE_LOCAL_PATHS },
      // what an NFS mount would give every node: the checkout, this home, the users' homes, and
      // the control directories and local sockets, which the simulation keeps in the machine's /run
      sharedPaths: [state.repo, p.home, '/home', '/root', CONTROL_ROOT, SOCKET_ROOT],
    };
    const file = path.join(dir, 'config.json');
    writeJson(file, config);
    return file;
  });
  // the CA itself, not its path: the CLI of any user reads it, and $GODWIT_HOME/tls is root's
  const ca = certs ? { ca: fs.readFileSync(certs.caFile, 'utf8') } : {};
  const clientOf = (token: string, user: string): ClientConfig => ({ url: state.orchestratorUrl, token, user, homeNode: 'node0', ...ca });
  return {
    orchestratorConfigPath,
    agentConfigPaths,
    client: clientOf(userToken, userName),
    guest: clientOf(guestToken, 'guest'),
    admin: clientOf(adminToken, 'admin'),
  };
}

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (err) {
    // not written yet (a start under way) or gone with `down`; a broken file is as good as none
    if (isErrno(err, 'ENOENT') || err instanceof SyntaxError) return null;
    throw err;
  }
}

/** The person's client configuration; while a start is under way, made from the orchestrator's. */
export function readClientConfig(p: HomePaths, state: ClusterState): ClientConfig | null {
  const own = readJson<ClientConfig>(p.clientConfig);
  if (own) return own;
  const orchestrator = readJson<OrchestratorConfig>(path.join(p.orchestratorDir, 'config.json'));
  const u = orchestrator?.users?.[0];
  if (!u) return null;
  const ca = orchestrator.tls ? { ca: orchestrator.tls.caFile } : {};
  return { url: state.orchestratorUrl, token: u.token, user: u.name, homeNode: 'node0', ...ca };
}
