/** Stopping and starting again one component of a running cluster, as tests of crashes do. */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CliError } from '../errors.js';
import { godwitHome } from '../paths.js';
import * as cg from './cgroups.js';
import { startDaemon, type Daemon } from './daemon.js';
import { startInNetns } from './nsenter.js';
import { isAlive, kill, terminate, startTime } from './procs.js';
import { homePaths, readState, writeJson, type ClusterState, type Component, type HomePaths } from './state.js';

export interface ComponentOptions {
  home?: string;
  /** 'orchestrator' or a node name */
  name: string;
}

export const orchestratorMain = (repo: string) => path.join(repo, 'orchestrator', 'dist', 'main.js');
export const agentMain = (repo: string) => path.join(repo, 'agent', 'dist', 'main.js');

/** Starts the orchestrator of cluster `id` in its control group, from the build in `repo`. */
export async function startOrchestrator(repo: string, id: number, layout: cg.CgroupLayout, configPath: string, logFile: string): Promise<Daemon> {
  const d = await startDaemon(process.execPath, [orchestratorMain(repo), '--config', configPath], logFile);
  cg.joinGroup(cg.orchestratorDir(layout, id), d.pid);
  return d;
}

/** Starts a node's agent in the node's network namespace, from the build in `repo`. */
export function startAgent(repo: string, netns: string, configPath: string, logFile: string): Promise<Daemon> {
  return startInNetns(netns, [process.execPath, agentMain(repo), '--config', configPath], logFile);
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
    d = await startOrchestrator(state.repo, state.id, cg.detectCgroups(), path.join(p.orchestratorDir, 'config.json'), comp.log);
  } else {
    const node = state.nodes.find((n) => n.name === comp.name)!;
    d = await startAgent(state.repo, node.netns, path.join(p.nodesDir, node.name, 'config.json'), comp.log);
  }
  comp.pid = d.pid;
  comp.startTime = startTime(d.pid) ?? '';
  writeJson(p.state, state);
  return d.pid;
}
