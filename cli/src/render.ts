/** Rendering of command results: tables for people, JSON for programs. Pure functions of data. */
import Table from 'cli-table3';
import type { CheckpointInfo, Migration, Node, Process } from '@godwit/schemas';
import { numberNodes } from './node-numbers.js';

const BORDERLESS = {
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
  bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
  left: '', 'left-mid': '', mid: '', 'mid-mid': '',
  right: '', 'right-mid': '', middle: '  ',
};

/** A borderless, uncoloured table; lines without trailing blanks. */
export function renderTable(head: string[], rows: string[][]): string {
  const table = new Table({
    head,
    chars: BORDERLESS,
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0, compact: true },
  });
  table.push(...rows);
  return table.toString().split('\n').map((l) => l.trimEnd()).join('\n') + '\n';
}

const CMD_WIDTH = 60;

export function commandLine(argv: string[], width = CMD_WIDTH): string {
  const s = argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
  return s.length > width ? s.slice(0, width - 1) + '…' : s;
}

export function isActive(p: Process): boolean {
  return p.state === 'running' || p.state === 'migrating' || p.state === 'frozen';
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

/** ps's elapsed time: [[d-]hh:]mm:ss */
export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const [d, h, m, sec] = [Math.floor(s / 86400), Math.floor(s / 3600) % 24, Math.floor(s / 60) % 60, s % 60];
  const two = (n: number) => String(n).padStart(2, '0');
  const hms = `${h || d ? `${two(h)}:` : ''}${two(m)}:${two(sec)}`;
  return d ? `${d}-${hms}` : hms;
}

export interface PsTableOptions {
  /** a USER column (other users' processes are shown) */
  owner?: boolean;
  /** --verbose: USER, the PID where it runs now, elapsed time, last stopped time, time frozen before it, the whole command */
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
    ...(opts.owner || v ? ['USER'] : []), ...(opts.memory ? ['MEM'] : []), ...(v ? ['ELAPSED', 'STOPPED', 'FROZEN'] : []), 'CMD',
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
    ...(v ? [formatElapsed((p.endedAt ?? now) - p.createdAt), p.lastFrozenMs === null ? '-' : `${p.lastFrozenMs} ms`] : []),
    ...(v ? [p.lastFrozenForMs == null ? '-' : formatSeconds(p.lastFrozenForMs)] : []),
    commandLine(p.argv, v ? Infinity : CMD_WIDTH),
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

/** a span of time a person reads at a glance: 850 ms, 11.7 s, 95 s */
export function formatSeconds(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

function cpuText(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

export function renderNodesTable(nodes: Node[]): string {
  const rows = numberNodes(nodes).map(({ number, node: n }) => [
    String(number),
    n.name,
    n.drained ? `${n.state}, drained` : n.state,
    n.url,
    n.load ? `${cpuText(n.load.cpuUsed)}/${cpuText(n.load.cpuCapacity)}` : '-',
    n.load ? formatBytes(n.load.memFreeBytes) : '-',
    n.load ? String(n.load.running) : '-',
  ]);
  return renderTable(['NO', 'NAME', 'STATE', 'ADDRESS', 'CPU', 'MEM FREE', 'RUNNING'], rows);
}

export function renderMigration(m: Migration): string {
  if (m.state === 'frozen') {
    return `process ${m.processId} is frozen on ${m.from} (image ${m.bytes === null ? '?' : formatBytes(m.bytes)}); \`mosmigrate ${m.processId} continue [NODE]\` brings it back\n`;
  }
  const stopped = m.frozenMs === null ? '' : ` (stopped ${m.frozenMs} ms)`;
  if (m.strategy === 'freeze') {
    const from = m.from === m.to ? '' : `, its image brought from ${m.from}`;
    const frozenFor = m.frozenForMs == null ? '' : `${from ? ',' : ''} after ${formatSeconds(m.frozenForMs)} frozen`;
    return `process ${m.processId} continues on ${m.to}${from}${frozenFor}${stopped}\n`;
  }
  const total = m.totalMs ?? (m.endedAt !== null ? m.endedAt - m.startedAt : null);
  const lazily = m.strategy === 'lazy' ? ' lazily' : '';
  const line = `process ${m.processId} moved${lazily} from ${m.from} to ${m.to}${total === null ? '' : ` in ${total} ms`}${stopped}\n`;
  if (m.strategy !== 'lazy' || m.bytesBeforeResume === null) return line;
  const followed = (m.onDemandBytes ?? 0) + (m.backgroundBytes ?? 0);
  return `${line}  ${formatBytes(m.bytesBeforeResume)} copied before it ran again; ${formatBytes(followed)} of memory followed (${formatBytes(m.onDemandBytes ?? 0)} on demand, ${formatBytes(m.backgroundBytes ?? 0)} in the background)\n`;
}

/** a checkpointed file's size at the checkpoint and now, as mosrun -I and -R say it */
export function sizesThenAndNow(f: CheckpointInfo['files'][number]): string {
  const now = f.sizeNow === null ? 'gone now, out of its owner\'s reach, or a symbolic link' : f.sizeNow === f.size ? 'unchanged' : `${f.sizeNow} bytes now`;
  return `${f.size} bytes then, ${now}`;
}

/** MOSIX mosrun -I: the files a checkpointed process had open, then and now. */
export function renderCheckpointInfo(info: CheckpointInfo): string {
  const when = new Date(info.takenAt).toISOString();
  const lines = [
    `checkpoint ${info.path}: process ${info.processId} (${info.argv.join(' ')}), taken on ${info.node} at ${when}, in ${info.cwd}`,
    "Standard Input (0), Output (1), Error (2): godwit's pipes (they reconnect to whoever recovers it)",
  ];
  const mode = { r: 'Read', w: 'Write', rw: 'Read-Write' } as const;
  for (const f of info.files) {
    const note = f.saved ? ' (saved with the checkpoint: comes back with -R)' : f.sizeNow !== f.size ? ' (changed: -R needs -O or --accept-changed)' : '';
    lines.push(`File-Descriptor #${f.fd}${f.pid > 2 ? ` of pid ${f.pid}` : ''}: ${f.path}, offset=${f.offset}, ${mode[f.mode]}${f.append ? ', Append' : ''}, ${sizesThenAndNow(f)}${note}`);
  }
  return `${lines.join('\n')}\n`;
}
