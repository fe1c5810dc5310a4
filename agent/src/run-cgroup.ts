/**
 * Where one epoch of one program gets its own memory control group (keeper/run-cgroup.h): a leaf
 * under the node's group that limits memory, so that the kernel's OOM-kill count in it says
 * whether the node's limit killed this program and no other. cgroup v1: the node's group in the
 * memory hierarchy (memory.oom_control counts). v2: the node's group only when it passes the
 * memory controller on to its children (cgroup.subtree_control), which then have memory.events;
 * otherwise there is no leaf and the program's OOM kills go uncounted (it dies as killed(SIGKILL)).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { passingOver } from './expected-errors.js';

function memoryReachesChildren(group: string): boolean {
  if (existsSync(join(group, 'memory.oom_control'))) return true;
  const control = passingOver(['ENOENT'], '', () => readFileSync(join(group, 'cgroup.subtree_control'), 'utf8'));
  return control.split(/\s+/).includes('memory');
}

/** the leaf for epoch `epoch` of process `id` under the node's groups, or undefined when none can count */
export function runCgroup(nodeGroups: readonly string[], id: number, epoch: number): string | undefined {
  const group = nodeGroups.find(memoryReachesChildren);
  return group === undefined ? undefined : join(group, `run-${id}.${epoch}`);
}
