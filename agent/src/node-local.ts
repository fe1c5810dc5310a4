/**
 * A node's own paths (configuration `nodeLocal`): /tmp, /var/tmp, /run... of the node, kept in
 * DIR/PATH on the machine. The keeper binds them into each program's mount namespace
 * (keeper/keeper-mounts.c, told by keeperEnv); a dump names each such mount external under a key
 * that says its path, and a restore binds this node's directory for the key, so a program
 * restored here finds this node's /tmp, not a bind of the source node's directory.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentConfig } from '@godwit/schemas';
import { mountsOf } from './mountinfo.js';

type NodeLocal = NonNullable<AgentConfig['nodeLocal']>;

const under = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);

/** where the node keeps its own `path` */
export const localDirOf = (local: NodeLocal, path: string): string => join(local.dir, path);

/** the shared paths that lie under a node-local one, which the keeper binds back over it */
const sharedUnder = (local: NodeLocal, shared: readonly string[]) => shared.filter((s) => local.paths.some((p) => under(s, p) && s !== p));

/**
 * Makes the node's directories, each as its path is on a machine: world-writable and sticky
 * (/tmp's mode), since any account's programs write there; and in them, the mountpoints of the
 * shared paths bound back over them, which a restore here needs before CRIU binds them.
 */
export function makeLocalDirs(local: NodeLocal, shared: readonly string[] = []): void {
  for (const p of local.paths) {
    const dir = localDirOf(local, p);
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o1777);
  }
  for (const s of sharedUnder(local, shared)) mkdirSync(localDirOf(local, s), { recursive: true, mode: 0o755 });
}

/** what the keeper needs to bind them: the shared paths under a local one are bound back over it */
export function keeperEnv(local: NodeLocal | undefined, shared: readonly string[] = []): Record<string, string> {
  if (!local?.paths.length) return {};
  const back = sharedUnder(local, shared);
  return {
    GODWIT_KEEPER_LOCAL_DIR: local.dir,
    GODWIT_KEEPER_LOCAL_PATHS: local.paths.join(':'),
    ...(back.length ? { GODWIT_KEEPER_SHARED_PATHS: back.join(':') } : {}),
  };
}

/** the node-local mounts the program whose root PID is given sees (none if it is gone) */
export function localMountsOf(local: NodeLocal | undefined, pid: number): string[] {
  if (!local) return [];
  return mountsOf(pid).flatMap((m) => (local.paths.includes(m.point) ? [m.point] : []));
}

/** for a restore here: each local path and the directory this node keeps it in */
export function localRestoreDirs(local: NodeLocal | undefined): { point: string; dir: string }[] {
  if (!local) return [];
  return local.paths.map((point) => ({ point, dir: localDirOf(local, point) }));
}
