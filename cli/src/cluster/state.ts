/**
 * What `cluster up` made, written down before each thing is made, so that `cluster down` can undo
 * exactly that, even after an `up` that crashed half-way.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CliError } from '../errors.js';

export type Resource =
  | { kind: 'bridge'; name: string }
  | { kind: 'netns'; name: string }
  | { kind: 'veth'; name: string }
  | { kind: 'cgroup'; path: string }
  | { kind: 'dir'; path: string };

export interface Component {
  role: 'orchestrator' | 'agent';
  /** 'orchestrator' or the node name */
  name: string;
  pid: number;
  /** /proc/PID/stat start time, so that a reused PID is never taken for ours */
  startTime: string;
  log: string;
}

export interface ClusterState {
  version: 1;
  id: number;
  createdAt: string;
  repo: string;
  subnet: string;
  orchestratorUrl: string;
  nodes: { name: string; netns: string; veth: string; address: string; url: string; cgroups: string[] }[];
  cpus: number;
  memMiB: number;
  cgroupVersion: 1 | 2;
  resources: Resource[];
  components: Component[];
  ready: boolean;
  /** the foreground `cluster up` that holds the cluster and tears it down on SIGTERM, if any */
  holder: { pid: number; startTime: string } | null;
}

export interface HomePaths {
  home: string;
  clusterDir: string;
  state: string;
  orchestratorDir: string;
  nodesDir: string;
  checkpoints: string;
  /** the cluster key the agents sign checkpoints with: kept, as the checkpoints are */
  clusterKey: string;
  /** the cluster's CA, and the orchestrator's and each node's certificate and key (certs.ts) */
  tls: string;
  logs: string;
  clientConfig: string;
  guestConfig: string;
  adminConfig: string;
}

export function homePaths(home: string): HomePaths {
  return {
    home,
    clusterDir: path.join(home, 'cluster'),
    state: path.join(home, 'cluster', 'state.json'),
    orchestratorDir: path.join(home, 'orchestrator'),
    nodesDir: path.join(home, 'nodes'),
    checkpoints: path.join(home, 'checkpoints'),
    clusterKey: path.join(home, 'cluster.key'),
    tls: path.join(home, 'tls'),
    logs: path.join(home, 'logs'),
    clientConfig: path.join(home, 'cluster.json'),
    guestConfig: path.join(home, 'cluster-guest.json'),
    adminConfig: path.join(home, 'cluster-admin.json'),
  };
}

export function readState(file: string): ClusterState | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CliError(`cannot read cluster state ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as ClusterState;
  } catch (err) {
    throw new CliError(`cluster state ${file} is not JSON (${(err as Error).message}); remove it and clean up by hand, or run \`godwit cluster down --id K\``);
  }
}

/** Written whole to a temporary file and renamed, so a crash never leaves half a state. */
export function writeJson(file: string, data: unknown, mode = 0o600): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(data, null, 2) + '\n', { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}
