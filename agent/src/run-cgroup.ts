/**
 * Where one epoch of one program gets its own memory control group (keeper/run-cgroup.h): a leaf
 * under the node's group in the cgroup v1 memory hierarchy, so that the kernel's OOM-kill count
 * in it (memory.oom_control) says whether the node's limit killed this program and no other.
 * cgroup v2 gets none: there a group that holds processes (the node's keepers) passes no memory
 * controller to its children, so such a death reads killed(SIGKILL) (README, Known limits).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** the leaf for epoch `epoch` of process `id` under the node's groups, or undefined when none can count */
export function runCgroup(nodeGroups: readonly string[], id: number, epoch: number): string | undefined {
  const group = nodeGroups.find((g) => existsSync(join(g, 'memory.oom_control')));
  return group === undefined ? undefined : join(group, `run-${id}.${epoch}`);
}
