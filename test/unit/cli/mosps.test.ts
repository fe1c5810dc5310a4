/** mosps's flags: how nodes are named (--numbers, -I), the verbose table (-f), memory (--memory), and refused flags. */
import path from 'node:path';
import { expect } from 'chai';
import { execa } from 'execa';
import type { Node, Process } from '@godwit/schemas';
import { fakeProcess } from './fake-process.js';
import { formatElapsed } from '../../../cli/src/views/format.js';
import { nodeLabeller, renderPsTable } from '../../../cli/src/views/processes.js';
import { deathLine } from '../../../cli/src/session.js';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');

function node(name: string, url: string): Node {
  return { name, url, state: 'online', lastSeen: 1, features: null, platform: null, load: null, drained: false };
}

function proc(over: Partial<Process>): Process {
  return fakeProcess({ owner: 'alice', argv: ['./counter', '60'], cwd: '/tmp', node: 'node2', pid: 777, origPid: 4242, nmigs: 1, createdAt: 1_000, lastStoppedMs: 160, ...over });
}

const nodes = [node('node0', 'http://10.77.1.10:7701'), node('node1', 'http://10.77.1.11:7701'), node('node2', 'http://10.77.1.12:7701')];

describe('mosps flags', () => {
  it('--numbers names nodes by their MOSIX number (from 1, as mossetpe -r), -I by their address', () => {
    const byNumber = renderPsTable([proc({})], { label: nodeLabeller(nodes, 'number') }).split('\n');
    expect(byNumber[1]).to.match(/^1\s+4242\s+3\s+1\s+-\s+1\s+running\s/);
    const byHost = renderPsTable([proc({})], { label: nodeLabeller(nodes, 'address') }).split('\n');
    expect(byHost[1]).to.match(/^1\s+4242\s+10\.77\.1\.12\s+10\.77\.1\.10\s+-\s/);
  });

  it('keeps the name of a node the cluster no longer lists', () => {
    expect(nodeLabeller(nodes, 'number')('node9')).to.equal('node9');
    expect(nodeLabeller(nodes, 'name')('node1')).to.equal('node1');
  });

  it('-f (--verbose) adds the PID where it runs now, the user, elapsed time, the last stopped time, the time frozen before it, its own address and the whole command', () => {
    const argv = ['python3', '-c', 'x'.repeat(100)];
    const lines = renderPsTable([proc({ argv, lastFrozenForMs: 11_700, address: '10.77.5.200' }), proc({ id: 2, pid: null, lastStoppedMs: null, state: 'frozen', frz: 'M' })], {
      verbose: true,
      now: 1_000 + 3_725_000,
    }).split('\n');
    expect(lines[0]).to.match(/^ID\s+PID\s+NOWPID\s+WHERE\s+FROM\s+FRZ\s+NMIGS\s+STATE\s+USER\s+ELAPSED\s+STOPPED\s+FROZEN\s+ADDRESS\s+CMD$/);
    expect(lines[1]).to.match(/^1\s+4242\s+777\s+node2\s+node0\s+-\s+1\s+running\s+alice\s+01:02:05\s+160 ms\s+11\.7 s\s+10\.77\.5\.200\s+python3 -c x{100}$/);
    expect(lines[2]).to.match(/^2\s+4242\s+-\s+node2\s+node0\s+M\s+1\s+frozen\s+alice\s+01:02:05\s+-\s+-\s+-\s/);
  });

  it('--memory adds the resident memory where each runs, - where it is not known', () => {
    const lines = renderPsTable([proc({ memBytes: 300 * 2 ** 20 }), proc({ id: 2, memBytes: null })], { memory: true }).split('\n');
    expect(lines[0]).to.match(/^ID\s+PID\s+WHERE\s+FROM\s+FRZ\s+NMIGS\s+STATE\s+MEM\s+CMD$/);
    expect(lines[1]).to.match(/\srunning\s+300 MiB\s/);
    expect(lines[2]).to.match(/\srunning\s+-\s/);
  });

  it('says why a program died in the state column: oom-killed, killed(SIGX) by name, else its exit status', () => {
    const ended = { state: 'exited' as const, endedAt: 2_000 };
    const lines = renderPsTable([
      proc({ ...ended, exitSignal: 'SIGKILL', died: { signal: 'SIGKILL', oomKilled: true, reason: "killed by node2's memory limit (OOM)" } }),
      proc({ ...ended, id: 2, exitSignal: 'SIGKILL', died: { signal: 'SIGKILL', oomKilled: false, reason: 'killed by SIGKILL' } }),
      proc({ ...ended, id: 3, exitCode: 1, died: { oomKilled: false, reason: "exited with status 1 after node2's memory limit (OOM) killed one of its processes" } }),
    ]).split('\n');
    expect(lines[1]).to.match(/^1\s.*\soom-killed\s/);
    expect(lines[2]).to.match(/^2\s.*\skilled\(SIGKILL\)\s/);
    expect(lines[3]).to.match(/^3\s.*\sexited\(1\)\s/);
  });

  it('has mosrun say one line for a death, as a shell does, and none for Ctrl-C or a closed pipe', () => {
    expect(deathLine(4, { signal: 'SIGKILL', oomKilled: true, reason: "killed by node1's memory limit (OOM)" })).to.equal("process 4 killed by node1's memory limit (OOM)");
    expect(deathLine(4, { signal: 'SIGTERM', oomKilled: false, reason: 'killed by SIGTERM' })).to.equal('process 4 killed by SIGTERM');
    expect(deathLine(4, { signal: 'SIGINT', oomKilled: false, reason: 'killed by SIGINT' })).to.equal(null);
    expect(deathLine(4, { signal: 'SIGPIPE', oomKilled: false, reason: 'killed by SIGPIPE' })).to.equal(null);
    expect(deathLine(4, undefined)).to.equal(null);
  });

  it('formats elapsed time as ps does', () => {
    expect(formatElapsed(59_999)).to.equal('00:59');
    expect(formatElapsed(3_600_000)).to.equal('01:00:00');
    expect(formatElapsed(90_061_000)).to.equal('1-01:01:01');
  });

  describe('refused flags', function () {
    this.timeout(30_000);
    const mosps = (args: string[]) =>
      execa(process.execPath, ['--import', import.meta.resolve('tsx'), path.join(repo, 'cli', 'src', 'bin', 'mosps.ts'), ...args], {
        reject: false,
        // no cluster: a flag must be refused before anything is asked of one
        env: { ...process.env, GODWIT_CONFIG: '/nonexistent/cluster.json' },
      });

    for (const [args, message] of [
      [['-x'], /^godwit: unknown option '-x'\n\(see `mosps --help`\)$/],
      [['-I', '--numbers'], /^godwit: option '-I, --addresses' cannot be used with option '--numbers'/],
      [['-L', '-O'], /^godwit: option '-L, --local' cannot be used with option '-O, --away'/],
      [['--memroy'], /^godwit: unknown option '--memroy'\n\(Did you mean --memory\?\)/],
    ] as const) {
      it(`mosps ${args.join(' ')}: says why, exit 2`, async () => {
        const r = await mosps([...args]);
        expect(r.stderr).to.match(message);
        expect(r.exitCode, r.stderr).to.equal(2);
      });
    }
  });
});
