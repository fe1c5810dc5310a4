/**
 * A program being dumped leaves its node's CPU quota while CRIU works on it, and comes back if it
 * runs on here. CRIU does much of a dump inside the program (its parasite code runs as the
 * program's own threads), so under the quota of a node crowded with busy programs each step waits
 * for the program's small share, and the program stands still several times longer. The
 * program is stopped meanwhile, so it gains no CPU of its own; CRIU's dumper already runs
 * outside the quota, in the agent's group, and so does all of the dump.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Mount } from '@godwit/schemas';
import { mountsOf } from './mountinfo.js';
import { treePids } from './preflight.js';
import { passOver } from './expected-errors.js';

/** a process that ended meanwhile, a group gone, or one that takes no such process (cgroups(7)) */
const GROUP_REFUSES = ['ESRCH', 'ENOENT', 'EINVAL', 'EBUSY', 'EOPNOTSUPP', 'EACCES', 'EPERM'];

interface Lift {
  /** the node's group that limits CPU */
  node: string;
  /** this agent's own group in the same hierarchy */
  own: string;
}

/** this agent's group in the hierarchy mounted at `mountpoint` with the given root and type */
function ownGroup(mount: Mount): string | null {
  const lines = readFileSync('/proc/self/cgroup', 'utf8').split('\n').filter(Boolean).map((l) => l.split(':'));
  const line = mount.type === 'cgroup2'
    ? lines.find((l) => l[0] === '0')
    : lines.find((l) => l[1] !== '' && l[1]!.split(',').every((c) => mount.options.includes(c)));
  const path = line?.slice(2).join(':');
  if (path === undefined || !path.startsWith(mount.root)) return null;
  return join(mount.point, path.slice(mount.root.length));
}

/** for each of the node's groups with a CPU limit, where its programs go while they are dumped */
export function quotaLifts(cgroups: readonly string[]): Lift[] {
  const mounts = mountsOf('self').filter((m) => m.type === 'cgroup' || m.type === 'cgroup2');
  const out: Lift[] = [];
  for (const node of cgroups) {
    const limited = ['cpu.max', 'cpu.cfs_quota_us'].some((f) => {
      try {
        readFileSync(join(node, f));
        return true;
      } catch (err) {
        passOver(err, ['ENOENT']); // not this version's file
        return false;
      }
    });
    const mount = mounts.filter((m) => node.startsWith(m.point + '/')).sort((a, b) => b.point.length - a.point.length)[0];
    const own = mount && limited ? ownGroup(mount) : null;
    if (own && own !== node) out.push({ node, own });
  }
  return out;
}

function moveInto(group: string, pids: number[]): void {
  for (const pid of pids) {
    try {
      writeFileSync(join(group, 'cgroup.procs'), String(pid));
    } catch (err) {
      passOver(err, GROUP_REFUSES);
      // it ended meanwhile, or the group refuses it: it stays where it is, no worse than before
    }
  }
}

/** Takes the program's tree out of its node's CPU quota, for a dump. */
export function liftOutOfQuota(lifts: Lift[], rootPid: number): void {
  if (!lifts.length) return;
  const pids = treePids(rootPid);
  for (const l of lifts) moveInto(l.own, pids);
}

/** Puts the tree back under its node's quota: it runs on here after all. */
export function backUnderQuota(lifts: Lift[], rootPid: number): void {
  if (!lifts.length) return;
  const pids = treePids(rootPid);
  for (const l of lifts) moveInto(l.node, pids);
}
