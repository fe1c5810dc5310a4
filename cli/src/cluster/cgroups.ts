/**
 * Control groups of the simulated nodes: one per node, with a CPU quota and a memory limit.
 * cgroup v1 (a directory per controller) and v2 (one unified tree) are both handled.
 */
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CliError, isErrno } from '../errors.js';
import { kill } from './procs.js';

export const CGROUP_ROOT = '/sys/fs/cgroup';
const PERIOD_US = 100_000;

export type CgroupLayout =
  | { version: 1; cpu: string; cpuacct: string | null; memory: string | null }
  | { version: 2; root: string };

function exists(p: string): boolean {
  return fs.existsSync(p);
}

/** Which hierarchy this machine has, and (v1) whether cpuacct is a mount of its own. */
export function detectCgroups(root = CGROUP_ROOT): CgroupLayout {
  const cpu = path.join(root, 'cpu');
  if (exists(path.join(cpu, 'cpu.cfs_quota_us'))) {
    const acct = path.join(root, 'cpuacct');
    const separate = exists(path.join(acct, 'cgroup.procs')) && fs.statSync(acct).dev !== fs.statSync(cpu).dev &&
      fs.realpathSync(acct) !== fs.realpathSync(cpu);
    const memory = path.join(root, 'memory');
    return { version: 1, cpu, cpuacct: separate ? acct : null, memory: exists(path.join(memory, 'memory.limit_in_bytes')) ? memory : null };
  }
  const controllers = path.join(root, 'cgroup.controllers');
  if (exists(controllers)) {
    const have = fs.readFileSync(controllers, 'utf8').trim().split(/\s+/);
    const missing = ['cpu', 'memory'].filter((c) => !have.includes(c));
    if (missing.length) throw new CliError(`cgroup v2 at ${root} lacks the ${missing.join(' and ')} controller(s)`);
    return { version: 2, root };
  }
  throw new CliError(`no usable control groups at ${root}: neither v1 cpu/cpu.cfs_quota_us nor v2 cgroup.controllers`);
}

/** The directories of cluster `id`'s group (parents), one per hierarchy. */
export function clusterDirs(layout: CgroupLayout, id: number): string[] {
  const name = `godwit-${id}`;
  if (layout.version === 2) return [path.join(layout.root, name)];
  return [layout.cpu, layout.cpuacct, layout.memory].filter((d): d is string => d !== null).map((d) => path.join(d, name));
}

/** The directories a node's agent joins (what its config lists), one per hierarchy. */
export function nodeDirs(layout: CgroupLayout, id: number, node: string): string[] {
  return clusterDirs(layout, id).map((d) => path.join(d, node));
}

/** Directories that may hold an earlier cluster `id`'s groups, whatever this machine's layout says. */
export function possibleClusterDirs(id: number, root = CGROUP_ROOT): string[] {
  const name = `godwit-${id}`;
  const candidates = [path.join(root, name)];
  try {
    for (const e of fs.readdirSync(root, { withFileTypes: true })) if (e.isDirectory()) candidates.push(path.join(root, e.name, name));
  } catch (err) {
    // no cgroup file system at all: nothing to find
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  return [...new Set(candidates)].filter((d) => exists(path.join(d, 'cgroup.procs')));
}

function write(file: string, value: string): void {
  try {
    fs.writeFileSync(file, value);
  } catch (err) {
    throw new CliError(`cannot write '${value.trim()}' to ${file}: ${(err as Error).message}`);
  }
}

export function makeDir(dir: string): void {
  try {
    fs.mkdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new CliError(`cannot create control group ${dir}: ${(err as Error).message}`);
  }
}

/** Moves a process (all its threads) into the group at `dir`. */
export function joinGroup(dir: string, pid: number): void {
  write(path.join(dir, 'cgroup.procs'), String(pid));
}

/**
 * A group without limits for the orchestrator, in one hierarchy: so that `cluster down` finds it
 * by its group even when the state file that names its PID is lost.
 */
export function orchestratorDir(layout: CgroupLayout, id: number): string {
  return path.join(clusterDirs(layout, id)[0]!, 'orchestrator');
}

/** v2: lets the cpu and memory controllers reach the cluster's group and its node groups. */
export function enableV2Controllers(layout: CgroupLayout, clusterDir: string): void {
  if (layout.version !== 2) return;
  for (const dir of [layout.root, clusterDir]) {
    const enabled = fs.readFileSync(path.join(dir, 'cgroup.subtree_control'), 'utf8').split(/\s+/);
    const wanted = ['cpu', 'memory'].filter((c) => !enabled.includes(c));
    if (wanted.length) write(path.join(dir, 'cgroup.subtree_control'), wanted.map((c) => `+${c}`).join(' '));
  }
}

/** Writes the CPU quota (CPUs) and memory limit into a node's directories. */
export function setLimits(layout: CgroupLayout, dirs: string[], cpus: number, memBytes: number): void {
  const quota = Math.max(1000, Math.round(cpus * PERIOD_US));
  if (layout.version === 2) {
    const dir = dirs[0]!;
    write(path.join(dir, 'cpu.max'), `${quota} ${PERIOD_US}`);
    write(path.join(dir, 'memory.max'), String(memBytes));
    return;
  }
  for (const dir of dirs) {
    if (dir.startsWith(layout.cpu + '/')) {
      write(path.join(dir, 'cpu.cfs_period_us'), String(PERIOD_US));
      write(path.join(dir, 'cpu.cfs_quota_us'), String(quota));
    } else if (layout.memory && dir.startsWith(layout.memory + '/')) {
      write(path.join(dir, 'memory.limit_in_bytes'), String(memBytes));
    }
  }
}

/** `dir` and its descendants, deepest first. */
function subtree(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    // removed meanwhile (its processes gone, the kernel took it)
    if (!isErrno(err, 'ENOENT')) throw err;
    return [];
  }
  return [...entries.filter((e) => e.isDirectory()).flatMap((e) => subtree(path.join(dir, e.name))), dir];
}

function procsOf(dir: string): number[] {
  try {
    return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch (err) {
    // the group is gone: no processes left in it
    if (!isErrno(err, 'ENOENT', 'ENODEV')) throw err;
    return [];
  }
}

export interface RemoveResult {
  removed: string[];
  killed: number[];
  problems: string[];
}

/**
 * Kills every process left in `dir`'s subtree (all started by our agents: the programs' keepers
 * are detached from them, so only the group still finds them), then removes the directories,
 * children first. Missing directories are fine.
 */
export async function removeTree(dir: string, deadlineMs = 10_000): Promise<RemoveResult> {
  const res: RemoveResult = { removed: [], killed: [], problems: [] };
  if (!exists(dir)) return res;
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const pids = [...new Set(subtree(dir).flatMap(procsOf))];
    if (!pids.length) break;
    if (Date.now() > deadline) {
      res.problems.push(`processes ${pids.join(' ')} are still in ${dir}`);
      break;
    }
    for (const pid of pids) {
      if (!res.killed.includes(pid)) res.killed.push(pid);
      kill(pid);
    }
    await sleep(100);
  }
  for (const d of subtree(dir)) {
    for (;;) {
      try {
        fs.rmdirSync(d);
        res.removed.push(d);
        break;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code === 'EBUSY' && Date.now() < deadline) {
          await sleep(100);
          continue;
        }
        res.problems.push(`cannot remove ${d}: ${(err as Error).message}`);
        break;
      }
    }
  }
  return res;
}
