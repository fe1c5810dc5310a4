/**
 * What a move would do with each file a program uses (tree-files.ts): files on shared paths stay,
 * as do those the system installs alike on every node; node-local ones are carried; files deleted
 * while open go inside the images as CRIU ghost files. Refused, in words, when what would move
 * passes the limit.
 */
import { type AgentConfig, type CarryPlan, DEFAULT_CARRY_MAX_BYTES, type PlannedFile, sizeInWords } from '@godwit/schemas';
import { underAny } from './open-files.js';
import { type UsedFile, treeFiles } from './tree-files.js';

/**
 * The distribution's own directories: every node of a cluster installs the same system (the
 * programs' libraries, /etc), so a mapped libc or an open /etc/hosts is never carried.
 */
const SYSTEM_PATHS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc', '/opt'];

/** CRIU's own --ghost-limit when none is given: a larger deleted file fails the dump */
export const CRIU_GHOST_LIMIT = 1 << 20;

function fateOf(f: UsedFile, sharedPaths: readonly string[]): Pick<PlannedFile, 'fate' | 'why'> {
  if (f.kind === 'deleted') return { fate: 'ghost', why: 'deleted while open: its content goes inside the images (a CRIU ghost file)' };
  const shared = sharedPaths.find((d) => underAny(f.path, [d]));
  if (shared) return { fate: 'stays', why: `on the shared path ${shared}: every node sees the same file` };
  if (underAny(f.path, SYSTEM_PATHS)) return { fate: 'stays', why: 'part of the system, installed alike on every node' };
  return { fate: 'carried', why: 'node-local: the destination does not have it' };
}

export interface CarryLimits {
  sharedPaths: readonly string[];
  limitBytes: number;
  /** how to raise the limit, for the refusal's words */
  raise: string;
}

export function planCarry(files: readonly UsedFile[], { sharedPaths, limitBytes, raise }: CarryLimits): CarryPlan {
  // where this node opens each file is its own business, not the plan's
  const planned: PlannedFile[] = files.map((f) => ({ path: f.path, kind: f.kind, apparentBytes: f.apparentBytes, allocatedBytes: f.allocatedBytes, ...fateOf(f, sharedPaths) }));
  const moving = planned.filter((f) => f.fate !== 'stays');
  const carriedBytes = moving.reduce((sum, f) => sum + f.allocatedBytes, 0);
  const ghosts = planned.filter((f) => f.fate === 'ghost');
  const ghostLimitBytes = Math.max(CRIU_GHOST_LIMIT, ...ghosts.map((f) => f.apparentBytes));
  let refusal: string | null = null;
  if (carriedBytes > limitBytes) {
    const largest = [...moving].sort((a, b) => b.allocatedBytes - a.allocatedBytes).slice(0, 3);
    refusal = `it would carry ${sizeInWords(carriedBytes)} of node-local files, more than the limit of ${sizeInWords(limitBytes)}: ` +
      `${largest.map((f) => `${f.path} (${sizeInWords(f.allocatedBytes)})`).join(', ')}; ${raise}`;
  }
  return { files: planned, carriedBytes, limitBytes, ghostLimitBytes, refusal };
}

/**
 * The plan for process `id` (its tree under rootPid) leaving this node, with the request's limit
 * or the configuration's. The agent's data and run directories are left out: the keeper's files
 * there are godwit's own, and each node's agent makes its own.
 */
export function carryPlanOf(config: Readonly<AgentConfig>, id: number, rootPid: number, carryMaxBytes?: number): CarryPlan {
  return carryOf(config, id, rootPid, carryMaxBytes).plan;
}

/**
 * Why the program cannot leave for its unix sockets bound at node-local paths: CRIU binds such a
 * socket anew at its path on the destination, but its peers there would not be the ones it had,
 * and the source's path would be left to a socket no one listens on. Said before it stops.
 */
export function socketBlockers(plan: CarryPlan): string[] {
  return plan.files
    .filter((f) => f.fate === 'carried' && f.kind === 'unix-socket')
    .map((f) => `it has a unix socket bound at ${f.path}, a node-local path: a move does not carry socket paths (bind it under a shared path, or let it run here)`);
}

/** the plan, and the files it would carry as the tree uses them (carried-files.ts opens them) */
export function carryOf(config: Readonly<AgentConfig>, id: number, rootPid: number, carryMaxBytes?: number): { plan: CarryPlan; carried: UsedFile[] } {
  const own = [config.dataDir, ...(config.runDir ? [config.runDir] : [])];
  const used = treeFiles(rootPid, own);
  const plan = planCarry(used, {
    sharedPaths: config.sharedPaths ?? [],
    limitBytes: carryMaxBytes ?? config.carry?.maxBytes ?? DEFAULT_CARRY_MAX_BYTES,
    raise: `raise the limit for this move with \`mosmigrate ${id} NODE --carry-max SIZE\` (carryMaxBytes in the API), or for every move with carry.maxBytes in ${config.node}'s agent configuration`,
  });
  return { plan, carried: used.filter((_, i) => plan.files[i]!.fate === 'carried') };
}
