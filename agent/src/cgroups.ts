import { appendFileSync } from 'node:fs';
import { join } from 'node:path';

/** Joins the node's control groups first thing, so every program and restore inherits them. */
export function joinCgroups(dirs: readonly string[]): void {
  for (const dir of dirs) {
    try {
      appendFileSync(join(dir, 'cgroup.procs'), `${process.pid}\n`);
    } catch (err) {
      throw new Error(`cannot join control group ${dir}: ${(err as Error).message}`);
    }
  }
}
