import { expect } from 'chai';
import type { Migration, Node, Process } from '@godwit/schemas';
import { fakeProcess } from './fake-process.js';
import { formatBytes } from '../../../cli/src/views/format.js';
import { renderMigration } from '../../../cli/src/views/migration.js';
import { renderNodesTable } from '../../../cli/src/views/nodes.js';
import { renderPsTable, selectProcesses } from '../../../cli/src/views/processes.js';

function proc(over: Partial<Process>): Process {
  return fakeProcess({ argv: ['./counter', '60'], cwd: '/tmp', pid: 4242, origPid: 4242, createdAt: 1, ...over });
}

const sample: Process[] = [
  proc({ id: 3, node: 'node2', nmigs: 2, origPid: 5000, argv: ['python3', '-c', 'print("hi there")'], locked: true }),
  proc({ id: 1 }),
  proc({ id: 2, state: 'exited', exitCode: 0, endedAt: 5 }),
  proc({ id: 4, state: 'migrating', node: 'node1', owner: 'guest' }),
  proc({ id: 5, state: 'exited', exitSignal: 'SIGKILL' }),
  proc({ id: 6, state: 'frozen', frz: 'M', pid: null }),
  proc({ id: 7, state: 'exited', exitSignal: 'SIGKILL', exitCheckpoint: '/ckpt/root/job.2' }),
];

describe('mosps rendering', () => {
  it('shows running, migrating and frozen processes by default, oldest first', () => {
    expect(selectProcesses(sample).map((p) => p.id)).to.deep.equal([1, 3, 4, 6]);
    expect(selectProcesses(sample, { exited: true }).map((p) => p.id)).to.deep.equal([1, 2, 3, 4, 5, 6, 7]);
    expect(selectProcesses(sample, { locked: true }).map((p) => p.id), 'mosps -L').to.deep.equal([3]);
  });

  it('draws a borderless table with ID PID WHERE FROM FRZ NMIGS STATE CMD', () => {
    const out = renderPsTable(selectProcesses(sample, { exited: true }));
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).to.match(/^ID\s+PID\s+WHERE\s+FROM\s+FRZ\s+NMIGS\s+STATE\s+CMD$/);
    expect(lines.find((l) => /^6\s/.test(l))).to.match(/\sM\s+0\s+frozen\s/);
    expect(lines).to.have.length(8);
    expect(out).to.not.match(/[│─┌┐└┘]/);
    expect(lines[3]).to.match(/^3\s+5000\s+node2\s+node0\s+-\s+2\s+running\s+python3 -c 'print\("hi there"\)'$/);
    expect(lines[2]).to.match(/exited\(0\)/);
    expect(lines[5]).to.match(/killed\(SIGKILL\)/);
    expect(lines[7], 'ended by mosmigrate exit: no crash').to.match(/^7\s.*\scheckpointed\s/);
    for (const l of lines) expect(l).to.equal(l.trimEnd());
  });

  it('lists a start that failed, with its reason under the table', () => {
    const failed = proc({ id: 8, state: 'failed', origPid: null, pid: null, argv: ['nosuch'], failure: 'nosuch: command not found on node0' });
    expect(selectProcesses([...sample, failed]).map((p) => p.id), 'ended: not by default').to.not.include(8);
    const lines = renderPsTable(selectProcesses([...sample, failed], { exited: true })).trimEnd().split('\n');
    expect(lines.find((l) => /^8\s/.test(l))).to.match(/^8\s+-\s+node0\s+node0\s+-\s+0\s+failed\s+nosuch$/);
    expect(lines.at(-1)).to.equal('process 8 failed to start: nosuch: command not found on node0');
  });

  it('adds USER with --all', () => {
    const out = renderPsTable(sample, { owner: true });
    expect(out.split('\n')[0]).to.match(/STATE\s+USER\s+CMD/);
    expect(out).to.contain('guest');
  });

  it('shows - for an unknown PID and cuts long commands', () => {
    const out = renderPsTable([proc({ origPid: null, argv: ['x'.repeat(200)] })]);
    expect(out.split('\n')[1]).to.match(/^1\s+-\s+/);
    expect(out).to.contain('…');
  });

  it('is JSON-able as is (--json prints the selected processes)', () => {
    const procs = selectProcesses(sample);
    expect(JSON.parse(JSON.stringify(procs))).to.deep.equal(procs);
  });
});

describe('nodes and migration rendering', () => {
  const nodes: Node[] = [
    {
      name: 'node0', url: 'http://10.77.1.10:7701', state: 'online', lastSeen: 1,
      features: { criuVersion: '4.2.1', lazyPages: true, dirtyTracking: false }, platform: null,
      load: { at: 1, cpuCapacity: 1, cpuUsed: 0.5, memTotalBytes: 2 ** 31, memFreeBytes: 1.5 * 2 ** 30, running: 2 }, drained: false,
    },
    { name: 'node1', url: 'http://10.77.1.11:7701', state: 'offline', lastSeen: null, features: null, platform: null, load: null, drained: true },
  ];

  it('draws the nodes', () => {
    const lines = renderNodesTable(nodes).trimEnd().split('\n');
    expect(lines[0]).to.match(/^NO\s+NAME\s+STATE\s+ADDRESS\s+CPU\s+MEM FREE\s+RUNNING$/);
    expect(lines[1]).to.match(/^1\s+node0\s+online\s+http:\/\/10\.77\.1\.10:7701\s+0\.50\/1\s+1\.5 GiB\s+2$/);
    expect(lines[2]).to.match(/^2\s+node1\s+offline, drained\s+\S+\s+-\s+-\s+-$/);
  });

  it('formats sizes', () => {
    expect(formatBytes(512)).to.equal('512 B');
    expect(formatBytes(2048)).to.equal('2.0 KiB');
    expect(formatBytes(300 * 2 ** 20)).to.equal('300 MiB');
  });

  it('says where a process moved, how long it took and how long it stopped', () => {
    const m: Migration = {
      id: 9, processId: 3, from: 'node0', to: 'node1', strategy: 'full', strategyReason: null, state: 'done', steps: [],
      stoppedMs: 160, frozenMs: 160, totalMs: 412, bytes: 1000, bytesBeforeResume: 1000, totalBytes: 1000, onDemandBytes: null, backgroundBytes: null,
      memoryArrivedAt: null, sourceReleasedAt: null, code: null, reason: null, startedAt: 0, endedAt: 412,
    };
    expect(renderMigration(m)).to.equal('process 3 moved from node0 to node1 in 412 ms (stopped 160 ms)\n');
  });

  it('says how long a continued process stayed frozen apart from how long its moves stopped it', () => {
    const m: Migration = {
      id: 9, processId: 3, from: 'node0', to: 'node1', strategy: 'freeze', strategyReason: null, state: 'done', steps: [],
      stoppedMs: 180, frozenMs: 180, frozenForMs: 11_700, totalMs: 12_000, bytes: 1000, bytesBeforeResume: 1000, totalBytes: 1000, onDemandBytes: null, backgroundBytes: null,
      memoryArrivedAt: null, sourceReleasedAt: null, code: null, reason: null, startedAt: 0, endedAt: 12_000,
    };
    expect(renderMigration(m)).to.equal('process 3 continues on node1, its image brought from node0, after 11.7 s frozen (stopped 180 ms)\n');
    expect(renderMigration({ ...m, to: 'node0', frozenForMs: 40_400 })).to.equal('process 3 continues on node0 after 40.4 s frozen (stopped 180 ms)\n');
  });

  it('says how much of a lazily moved process came before it ran again, and how the rest followed', () => {
    const m: Migration = {
      id: 9, processId: 3, from: 'node0', to: 'node1', strategy: 'lazy', strategyReason: null, state: 'done', steps: [],
      stoppedMs: 90, frozenMs: 90, totalMs: 900, bytes: 200 * 1024, bytesBeforeResume: 200 * 1024, totalBytes: 200 * 1024 + 256 * 2 ** 20,
      onDemandBytes: 2 ** 20, backgroundBytes: 255 * 2 ** 20, memoryArrivedAt: 890, sourceReleasedAt: 900, code: null, reason: null, startedAt: 0, endedAt: 900,
    };
    expect(renderMigration(m)).to.equal(
      'process 3 moved lazily from node0 to node1 in 900 ms (stopped 90 ms)\n  200 KiB copied before it ran again; 256 MiB of memory followed (1.0 MiB on demand, 255 MiB in the background)\n',
    );
  });
});
