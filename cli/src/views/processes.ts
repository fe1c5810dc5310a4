/** mosps: which processes it shows, and the table it shows them in. */
import type { Node, Process, ProcessState } from '@godwit/schemas';
import { numberNodes } from '../node-numbers.js';
import { commandLine, formatElapsed, renderTable } from './format.js';
import { formatBytes, formatSeconds } from './format.js';

/** the states of a process that has not ended */
export const ACTIVE_STATES: readonly ProcessState[] = ['running', 'migrating', 'frozen'];

export function isActive(p: Process): boolean {
  return ACTIVE_STATES.includes(p.state);
}

/** Which processes mosps shows, besides the caller's own active ones. */
export interface ProcessSelection {
  /** ended ones too */
  exited?: boolean;
  /** only those the balancer never moves (mosrun -L) */
  locked?: boolean;
  /** only this user's (ps -u) */
  user?: string;
  /** relative to `here` (the caller's home node): MOSIX's -L (started here), -O (started here, running elsewhere), -V (guests: started elsewhere, running here) */
  where?: { here: string; only: 'local' | 'away' | 'guests' };
}

function placed(p: Process, where: NonNullable<ProcessSelection['where']>): boolean {
  const local = p.homeNode === where.here;
  if (where.only === 'local') return local;
  if (where.only === 'away') return local && p.node !== where.here;
  return !local && p.node === where.here;
}

/** The processes mosps shows: active ones, or all with `exited`; oldest first. */
export function selectProcesses(procs: Process[], opts: ProcessSelection = {}): Process[] {
  return procs
    .filter((p) => (opts.exited || isActive(p)) && (!opts.locked || p.locked) && (opts.user === undefined || p.owner === opts.user) && (!opts.where || placed(p, opts.where)))
    .sort((a, b) => a.id - b.id);
}

function stateText(p: Process): string {
  if (p.state !== 'exited') return p.state;
  if (p.exitCheckpoint) return 'checkpointed';
  if (p.died?.oomKilled) return 'oom-killed';
  if (p.exitSignal) return `killed(${p.exitSignal})`;
  return `exited(${p.exitCode ?? '?'})`;
}

/** How mosps names a node: by name (MOSIX -h, -M), by its MOSIX number, or by its address (-I). */
export type NodeLabel = 'name' | 'number' | 'address';

/** The label of each node for `how`; numbers and addresses as `mossetpe -r` lists them. */
export function nodeLabeller(nodes: Node[], how: NodeLabel): (name: string) => string {
  if (how === 'name') return (name) => name;
  const labels = new Map(numberNodes(nodes).map((n) => [n.name, how === 'number' ? String(n.number) : n.address]));
  // a node no longer listed keeps its name rather than vanish from the table
  return (name) => labels.get(name) ?? name;
}

export interface PsTableOptions {
  /** a USER column (other users' processes are shown) */
  owner?: boolean;
  /** --verbose: USER, the PID where it runs now, elapsed time, last stopped time, time frozen before it, its own address (--ip), the whole command */
  verbose?: boolean;
  /** how WHERE and FROM name nodes; by name when absent */
  label?: (node: string) => string;
  /** --memory: a MEM column, resident memory where it runs */
  memory?: boolean;
  /** MOSIX -P: an ORIGPID column, the PID it had on its home node when it started */
  origPid?: boolean;
  /** for the elapsed time; Date.now() when absent */
  now?: number;
}

export function renderPsTable(procs: Process[], opts: PsTableOptions = {}): string {
  const label = opts.label ?? ((name: string) => name);
  const now = opts.now ?? Date.now();
  const v = opts.verbose ?? false;
  const head = [
    'ID', 'PID', ...(opts.origPid ? ['ORIGPID'] : []), ...(v ? ['NOWPID'] : []), 'WHERE', 'FROM', 'FRZ', 'NMIGS', 'STATE',
    ...(opts.owner || v ? ['USER'] : []), ...(opts.memory ? ['MEM'] : []), ...(v ? ['ELAPSED', 'STOPPED', 'FROZEN', 'ADDRESS'] : []), 'CMD',
  ];
  const rows = procs.map((p) => [
    String(p.id),
    p.origPid === null ? '-' : String(p.origPid),
    ...(opts.origPid ? [p.origPid === null ? '-' : String(p.origPid)] : []),
    ...(v ? [p.pid === null ? '-' : String(p.pid)] : []),
    label(p.node),
    label(p.homeNode),
    p.frz,
    String(p.nmigs),
    stateText(p),
    ...(opts.owner || v ? [p.owner] : []),
    ...(opts.memory ? [p.memBytes == null ? '-' : formatBytes(p.memBytes)] : []),
    ...(v ? [formatElapsed((p.endedAt ?? now) - p.createdAt), p.lastStoppedMs === null ? '-' : `${p.lastStoppedMs} ms`] : []),
    ...(v ? [p.lastFrozenForMs == null ? '-' : formatSeconds(p.lastFrozenForMs), p.address ?? '-'] : []),
    commandLine(p.argv, v ? Infinity : undefined),
  ]);
  return renderTable(head, rows) + failures(procs);
}

/** each failed start's reason, under the table: too long for a column */
function failures(procs: Process[]): string {
  return procs
    .filter((p) => p.state === 'failed')
    .map((p) => `process ${p.id} failed to start: ${p.failure ?? 'no reason recorded'}\n`)
    .join('');
}
