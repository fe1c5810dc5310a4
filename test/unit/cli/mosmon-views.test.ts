/** What each mosmon view draws for a given cluster, at a given terminal size. */
import { expect } from 'chai';
import type { Node, NodeLoad, Process } from '@godwit/schemas';
import { fakeProcess } from './fake-process.js';
import { bar, clock, renderScreen, wrap, type MonitorState, type Snapshot, type View } from '../../../cli/src/monitor/views.js';

const GIB = 2 ** 30;
const URL = 'http://10.77.45.1:7700';

function load(over: Partial<NodeLoad>): NodeLoad {
  return { at: 1, cpuCapacity: 1, cpuUsed: 0, memTotalBytes: 4 * GIB, memFreeBytes: 4 * GIB, running: 0, ...over };
}

function node(name: string, over: Partial<Node> = {}): Node {
  return { name, url: `http://${name}:7701`, state: 'online', lastSeen: 1, features: null, platform: null, load: load({}), drained: false, ...over };
}

function proc(id: number, over: Partial<Process>): Process {
  return fakeProcess({ id, argv: ['x'], pid: 1, origPid: 1, ...over });
}

const at = Date.UTC(2026, 10, 24, 4, 5, 6);
const snapshot: Snapshot = {
  at,
  nodes: [
    node('node0', { load: load({ cpuUsed: 0.5, running: 2, memFreeBytes: 3 * GIB }) }),
    node('node1', { load: load({ cpuUsed: 1, running: 1, memFreeBytes: 1 * GIB }) }),
    node('node2', { drained: true }),
    node('node3', { state: 'offline', load: load({ cpuUsed: 1 }), lastSeen: at - 60_000 }),
    node('node4', { state: 'online', load: null }),
  ],
  processes: [
    proc(1, { state: 'frozen', frz: 'M', node: 'node1' }),
    proc(2, { state: 'frozen', frz: 'E', node: 'node1' }),
    proc(3, { state: 'frozen', frz: 'M', node: 'node0' }),
    proc(4, { node: 'node0' }),
  ],
};

const screen = (view: View, state: Partial<MonitorState> = {}, size = { columns: 100, rows: 30 }) =>
  renderScreen({ view, snapshot, unreachable: null, ...state }, size, URL).map((l) => l.text);

/** the line of `name` in a screen */
const row = (lines: string[], name: string) => lines.find((l) => l.startsWith(`${name} `)) ?? `(no line for ${name} in:\n${lines.join('\n')})`;

describe('mosmon views', () => {
  it('draws bars of ASCII, as long as asked', () => {
    expect(bar(0.5, 12)).to.equal('[#####.....]');
    expect(bar(0, 6)).to.equal('[....]');
    expect(bar(3, 6)).to.equal('[####]');
    expect(bar(NaN, 6)).to.equal('[....]');
  });

  it('l: a bar per node of CPUs used over its capacity, with what runs there; offline and drained nodes say so', () => {
    const lines = screen('load');
    expect(lines[0]).to.match(/^godwit mosmon: CPU load/);
    expect(row(lines, 'node0')).to.match(/^node0  \[#+\.+\]  0\.50\/1 CPU  2 running$/);
    const filled = (name: string) => /#+/.exec(row(lines, name))?.[0].length ?? 0;
    expect(filled('node1')).to.equal(2 * filled('node0'));
    expect(row(lines, 'node2')).to.match(/\[\.+\]\s+0\/1 CPU  0 running\s+drained$/);
    expect(row(lines, 'node3'), 'its last report is stale').to.match(/^node3  \[ +\]  no current figures\s+offline$/);
    expect(row(lines, 'node4')).to.match(/^node4  \[ +\]  no load reported yet$/);
    expect(lines.at(-1)).to.equal(`5 nodes, updated ${clock(at)}`);
  });

  it('f: frozen processes on each node, and its free memory', () => {
    const lines = screen('frozen');
    expect(lines[0]).to.match(/frozen processes and free memory/);
    expect(row(lines, 'node1')).to.match(/\[#+\]  2 frozen  1\.0 GiB free  \(M 1, E 1\)$/);
    expect(row(lines, 'node0')).to.match(/\[#+\.+\]  1 frozen  3\.0 GiB free  \(M 1\)$/);
    expect(row(lines, 'node2')).to.match(/\[\.+\]  0 frozen  4\.0 GiB free\s+drained$/);
    expect(row(lines, 'node3')).to.match(/0 frozen  memory unknown\s+offline$/);
    expect(row(lines, 'node4')).to.match(/0 frozen  memory unknown$/);
  });

  it('m: memory used over total on each node', () => {
    const lines = screen('memory');
    expect(lines[0]).to.match(/memory \(used \/ total\)/);
    expect(row(lines, 'node1')).to.match(/\[#+\.+\]  3\.0 GiB\/4\.0 GiB used  1\.0 GiB free$/);
    expect(row(lines, 'node2')).to.match(/\[\.+\]  0 B\/4\.0 GiB used  4\.0 GiB free\s+drained$/);
  });

  it('d: only the dead and drained nodes, and how many take programs', () => {
    const lines = screen('dead');
    expect(row(lines, 'node2')).to.match(/drained: nothing new starts or moves here/);
    expect(row(lines, 'node3')).to.equal(`node3  offline, last seen ${clock(at - 60_000)}`);
    expect(lines.some((l) => l.startsWith('node0') || l.startsWith('node1'))).to.equal(false);
    expect(lines).to.include('3 of 5 nodes online and taking programs');
    const healthy = renderScreen({ view: 'dead', snapshot: { ...snapshot, nodes: [node('node0')] }, unreachable: null }, { columns: 80, rows: 24 }, URL);
    expect(healthy.map((l) => l.text)).to.include('no dead or drained nodes (1 online)');
  });

  it('h: the keys', () => {
    const lines = screen('help');
    for (const key of ['l', 'f', 'm', 'd', 'h', 'q']) expect(lines.some((l) => l.startsWith(`${key}   `)), `a line for ${key}`).to.equal(true);
  });

  it('says the orchestrator is unreachable, wrapped to the width, and keeps what it last said', () => {
    const reason = 'cannot reach the orchestrator at http://10.77.45.1:7700 (ECONNREFUSED); is the cluster up? (`godwit cluster status`)';
    const lines = renderScreen({ view: 'load', snapshot, unreachable: reason }, { columns: 60, rows: 24 }, URL);
    const alert = lines.filter((l) => l.tone === 'alert').map((l) => l.text);
    expect(alert.join(' ')).to.equal(`orchestrator unreachable: ${reason} (showing what it said at ${clock(at)}); retrying`);
    for (const l of lines) expect(l.text.length, l.text).to.be.at.most(60);
    expect(row(lines.map((l) => l.text), 'node0')).to.match(/0\.50\/1 CPU/);
    const first = renderScreen({ view: 'load', snapshot: null, unreachable: reason }, { columns: 200, rows: 24 }, URL).map((l) => l.text);
    expect(first.at(-1)).to.equal(`orchestrator unreachable: ${reason}; retrying`);
  });

  it('fits the terminal: never taller than one row short of it, never wider', () => {
    const many: Snapshot = { ...snapshot, nodes: Array.from({ length: 40 }, (_, i) => node(`node${i}`)) };
    for (const size of [{ columns: 100, rows: 30 }, { columns: 40, rows: 10 }, { columns: 20, rows: 6 }]) {
      const lines = renderScreen({ view: 'load', snapshot: many, unreachable: null }, size, URL).map((l) => l.text);
      expect(lines.length, lines.join('\n')).to.be.at.most(size.rows - 1);
      for (const l of lines) expect(l.length, l).to.be.at.most(size.columns);
      expect(lines.some((l) => /^\.\.\. \d+ more/.test(l)), lines.join('\n')).to.equal(true);
    }
    const wide = screen('load', {}, { columns: 160, rows: 30 });
    expect(row(wide, 'node0').length).to.be.greaterThan(row(screen('load'), 'node0').length);
  });

  it('wraps at spaces, or anywhere in a word longer than the line', () => {
    expect(wrap('aaa bbb ccc', 7)).to.deep.equal(['aaa bbb', 'ccc']);
    expect(wrap('abcdefghij', 4)).to.deep.equal(['abcd', 'efgh', 'ij']);
  });
});
