/**
 * `cluster down`: removes what the state file records, and whatever else carries the cluster's
 * names, so that even an `up` that crashed half-way leaves nothing behind once this has run.
 */
import fs from 'node:fs';
import path from 'node:path';
import { godwitHome } from '../paths.js';
import { say } from '../output.js';
import * as cg from './cgroups.js';
import { requireRoot } from './checks.js';
import { detachLeftMounts, mountsUnder } from './mounts.js';
import { controlDirOf, socketDirOf } from './names.js';
import { removeNetwork } from './network.js';
import { isAlive, terminate } from './procs.js';
import { homePaths, readState, type ClusterState, type Resource } from './state.js';

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

/** the foreground `cluster up` that holds the cluster, when it is another process that still runs */
export function holderAlive(state: ClusterState): boolean {
  return state.holder !== null && state.holder.pid !== process.pid && isAlive(state.holder.pid, state.holder.startTime);
}

/** Removes everything the state file records, and whatever else carries cluster `id`'s names. */
export async function clusterDown(opts: DownOptions = {}): Promise<DownReport> {
  requireRoot('cluster down');
  const log = opts.log ?? say;
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

    await removeNetwork(id, state?.resources ?? [], attempt);
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
