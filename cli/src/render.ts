/** Rendering of command results: tables for people, JSON for programs. Pure functions of data. */
import Table from 'cli-table3';
import type { Migration, Node, Process } from '@godwit/schemas';

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

export function renderJson(data: unknown): string {
  return JSON.stringify(data, null, 2) + '\n';
}

const CMD_WIDTH = 60;

export function commandLine(argv: string[], width = CMD_WIDTH): string {
  const s = argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
  return s.length > width ? s.slice(0, width - 1) + '…' : s;
}

export function isActive(p: Process): boolean {
  return p.state === 'running' || p.state === 'migrating' || p.state === 'frozen';
}

/** The processes mosps shows: active ones, or all with `exited`; oldest first. */
export function selectProcesses(procs: Process[], opts: { exited?: boolean } = {}): Process[] {
  return procs.filter((p) => opts.exited || isActive(p)).sort((a, b) => a.id - b.id);
}

function stateText(p: Process): string {
  if (p.state !== 'exited') return p.state;
  if (p.exitSignal) return `killed(${p.exitSignal})`;
  return `exited(${p.exitCode ?? '?'})`;
}

export function renderPsTable(procs: Process[], opts: { owner?: boolean } = {}): string {
  const head = ['ID', 'PID', 'WHERE', 'FROM', 'FRZ', 'NMIGS', 'STATE', ...(opts.owner ? ['USER'] : []), 'CMD'];
  const rows = procs.map((p) => [
    String(p.id),
    p.origPid === null ? '-' : String(p.origPid),
    p.node,
    p.homeNode,
    p.frz,
    String(p.nmigs),
    stateText(p),
    ...(opts.owner ? [p.owner] : []),
    commandLine(p.argv),
  ]);
  return renderTable(head, rows);
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
  const rows = nodes.map((n) => [
    n.name,
    n.drained ? `${n.state}, drained` : n.state,
    n.url,
    n.load ? `${cpuText(n.load.cpuUsed)}/${cpuText(n.load.cpuCapacity)}` : '-',
    n.load ? formatBytes(n.load.memFreeBytes) : '-',
    n.load ? String(n.load.running) : '-',
  ]);
  return renderTable(['NAME', 'STATE', 'ADDRESS', 'CPU', 'MEM FREE', 'RUNNING'], rows);
}

export function renderMigration(m: Migration): string {
  if (m.state === 'frozen') {
    return `process ${m.processId} is frozen on ${m.from} (image ${m.bytes === null ? '?' : formatBytes(m.bytes)}); \`mosmigrate ${m.processId} continue [NODE]\` brings it back\n`;
  }
  if (m.from === m.to && m.strategy === 'freeze') {
    return `process ${m.processId} continues on ${m.to}${m.frozenMs === null ? '' : ` after ${m.frozenMs} ms frozen`}\n`;
  }
  const total = m.totalMs ?? (m.endedAt !== null ? m.endedAt - m.startedAt : null);
  const stopped = m.frozenMs === null ? '' : ` (stopped ${m.frozenMs} ms)`;
  const lazily = m.strategy === 'lazy' ? ' lazily' : '';
  const line = `process ${m.processId} moved${lazily} from ${m.from} to ${m.to}${total === null ? '' : ` in ${total} ms`}${stopped}\n`;
  if (m.strategy !== 'lazy' || m.bytesBeforeResume === null) return line;
  const followed = (m.onDemandBytes ?? 0) + (m.backgroundBytes ?? 0);
  return `${line}  ${formatBytes(m.bytesBeforeResume)} copied before it ran again; ${formatBytes(followed)} of memory followed (${formatBytes(m.onDemandBytes ?? 0)} on demand, ${formatBytes(m.backgroundBytes ?? 0)} in the background)\n`;
}
