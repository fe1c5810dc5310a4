/**
 * What mosmon shows, as lines of text: a pure function of the cluster's last snapshot, the chosen
 * view and the terminal's size, so every view is testable without a terminal.
 */
import type { Node, Process } from '@godwit/schemas';
import { formatBytes } from '../views/format.js';

/** MOSIX mosmon's keys: l load, f frozen processes and free memory, m memory, d dead nodes, h help */
export type View = 'load' | 'frozen' | 'memory' | 'dead' | 'help';

export const VIEW_KEYS: Readonly<Record<string, View>> = { l: 'load', f: 'frozen', m: 'memory', d: 'dead', h: 'help' };

const TITLES: Record<View, string> = {
  load: 'CPU load (used / capacity)',
  frozen: 'frozen processes and free memory',
  memory: 'memory (used / total)',
  dead: 'dead and drained nodes',
  help: 'help',
};

export interface Snapshot {
  nodes: Node[];
  processes: Process[];
  /** ms since the epoch when it was read */
  at: number;
}

export interface MonitorState {
  view: View;
  /** the last snapshot read, null before the first */
  snapshot: Snapshot | null;
  /** why the last read failed; null when it succeeded */
  unreachable: string | null;
}

export interface Size {
  columns: number;
  rows: number;
}

/** title: the top line; alert: the orchestrator cannot be read; dim: a node that takes nothing */
export type Tone = 'title' | 'alert' | 'dim' | 'plain';

export interface Line {
  text: string;
  tone: Tone;
}

const line = (text: string, tone: Tone = 'plain'): Line => ({ text, tone });

export function clock(ms: number): string {
  return new Date(ms).toTimeString().slice(0, 8);
}

/** `[#####.....]`, `width` characters in all; plain ASCII so that any terminal shows it. */
export function bar(fraction: number, width: number): string {
  const inner = Math.max(1, width - 2);
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.round(f * inner);
  return `[${'#'.repeat(filled)}${'.'.repeat(inner - filled)}]`;
}

function num(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

/** One row per node: its name, a bar, and the figures the bar stands for. */
interface Row {
  node: Node;
  fraction: number | null;
  figures: string;
}

function rowsFor(view: Exclude<View, 'help' | 'dead'>, s: Snapshot): Row[] {
  const frozenOn = new Map<string, number>();
  // why they are frozen (FRZ), in the order M A E, e.g. "M 1, A 2": an automatic freeze shows a node short of memory
  const whyOn = new Map<string, Map<string, number>>();
  for (const p of s.processes) {
    if (p.state !== 'frozen') continue;
    frozenOn.set(p.node, (frozenOn.get(p.node) ?? 0) + 1);
    const why = whyOn.get(p.node) ?? new Map<string, number>();
    why.set(p.frz, (why.get(p.frz) ?? 0) + 1);
    whyOn.set(p.node, why);
  }
  const mostFrozen = Math.max(1, ...frozenOn.values());
  const reasons = (name: string) => {
    const why = whyOn.get(name);
    return why ? `  (${['M', 'A', 'E'].filter((f) => why.has(f)).map((f) => `${f} ${why.get(f)}`).join(', ')})` : '';
  };
  return s.nodes.map((node) => {
    // an offline node's last report is stale: its figures would mislead
    const l = node.state === 'offline' ? null : node.load;
    if (view === 'frozen') {
      // the orchestrator knows what lies frozen on a node, whether or not the node answers
      const n = frozenOn.get(node.name) ?? 0;
      return { node, fraction: n / mostFrozen, figures: `${n} frozen  ${l ? `${formatBytes(l.memFreeBytes)} free` : 'memory unknown'}${reasons(node.name)}` };
    }
    if (!l) return { node, fraction: null, figures: node.state === 'offline' ? 'no current figures' : 'no load reported yet' };
    if (view === 'load') {
      return { node, fraction: l.cpuUsed / l.cpuCapacity, figures: `${num(l.cpuUsed)}/${num(l.cpuCapacity)} CPU  ${l.running} running` };
    }
    const used = l.memTotalBytes - l.memFreeBytes;
    return { node, fraction: used / l.memTotalBytes, figures: `${formatBytes(used)}/${formatBytes(l.memTotalBytes)} used  ${formatBytes(l.memFreeBytes)} free` };
  });
}

function nodeTag(n: Node): string {
  return n.state === 'offline' ? 'offline' : n.drained ? 'drained' : '';
}

function barLines(view: Exclude<View, 'help' | 'dead'>, s: Snapshot, columns: number): Line[] {
  const rows = rowsFor(view, s);
  const nameWidth = Math.max(4, ...rows.map((r) => r.node.name.length));
  const figuresWidth = Math.max(...rows.map((r) => r.figures.length));
  const barWidth = Math.max(12, columns - nameWidth - figuresWidth - 14);
  return rows.map((r) => {
    const tag = nodeTag(r.node);
    // an offline node's bar is empty, not zero: nothing is known of it now
    const drawn = r.node.state === 'offline' || r.fraction === null ? `[${' '.repeat(barWidth - 2)}]` : bar(r.fraction, barWidth);
    return line(`${r.node.name.padEnd(nameWidth)}  ${drawn}  ${r.figures.padEnd(figuresWidth)}  ${tag}`.trimEnd(), tag ? 'dim' : 'plain');
  });
}

function deadLines(s: Snapshot): Line[] {
  const bad = s.nodes.filter((n) => n.state === 'offline' || n.drained);
  const ok = s.nodes.length - bad.length;
  if (!bad.length) return [line(`no dead or drained nodes (${ok} online)`)];
  const nameWidth = Math.max(4, ...bad.map((n) => n.name.length));
  return [
    ...bad.map((n) => {
      const why = n.state === 'offline'
        ? `offline${n.lastSeen === null ? ', never seen' : `, last seen ${clock(n.lastSeen)}`}${n.drained ? ', drained' : ''}`
        : 'drained: nothing new starts or moves here (mosctl undrain)';
      return line(`${n.name.padEnd(nameWidth)}  ${why}`, 'dim');
    }),
    line(''),
    line(`${ok} of ${s.nodes.length} nodes online and taking programs`),
  ];
}

const HELP: Line[] = [
  'l   CPU load of each node: CPUs in use over its capacity, programs running',
  'f   frozen processes on each node, and its free memory',
  'm   memory of each node: used and total',
  'd   dead (offline) and drained nodes',
  'h   this help',
  'q   quit (also Ctrl-C)',
  '',
  'The screen follows the orchestrator every interval and redraws when the terminal is resized.',
  'Only your own processes count, unless you are an administrator.',
].map((t) => line(t));

/** The whole screen: a title, the view, and a status line; at most `rows` - 1 lines, each at most `columns` wide. */
export function renderScreen(state: MonitorState, size: Size, where: string): Line[] {
  const { snapshot: s, view } = state;
  const title = line(`godwit mosmon: ${TITLES[view]}    (l f m d h, q quits)`, 'title');
  let body: Line[];
  if (view === 'help') body = HELP;
  else if (!s) body = [line(state.unreachable ? '' : `reading the cluster from ${where}...`)];
  else if (!s.nodes.length) body = [line('the cluster has no nodes')];
  else if (view === 'dead') body = deadLines(s);
  else body = barLines(view, s, size.columns);

  // the reason the orchestrator cannot be read is the one thing worth a few rows: it is wrapped, not cut
  const status = state.unreachable
    ? wrap(`orchestrator unreachable: ${state.unreachable}${s ? ` (showing what it said at ${clock(s.at)})` : ''}; retrying`, size.columns).map((t) =>
        line(t, 'alert'),
      )
    : [line(s ? `${s.nodes.length} nodes, updated ${clock(s.at)}` : '')];
  // room for the title, a blank line, the body, a blank line and the status, one row short of the
  // screen: Ink clears the whole terminal on every frame as tall as the screen, which flickers
  const room = Math.max(1, size.rows - 4 - status.length);
  if (body.length > room) body = [...body.slice(0, room - 1), line(`... ${body.length - room + 1} more (enlarge the window)`)];
  return [title, line(''), ...body, line(''), ...status].map((l) => ({ ...l, text: fit(l.text, size.columns) }));
}

function fit(text: string, columns: number): string {
  return text.length > columns ? text.slice(0, Math.max(0, columns - 1)) + '…' : text;
}

/** Lines of at most `columns` characters, broken at spaces where there are some. */
export function wrap(text: string, columns: number): string[] {
  const lines: string[] = [];
  let rest = text;
  while (rest.length > columns) {
    const cut = rest.lastIndexOf(' ', columns);
    const at = cut > 0 ? cut : columns;
    lines.push(rest.slice(0, at));
    rest = rest.slice(at).trimStart();
  }
  return [...lines, rest];
}
