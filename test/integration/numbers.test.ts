/** MOSIX's node numbers and commands against the real cluster: mosrun -N/-rN/-rADDRESS, mosmigrate by number and address, mosps -n/-AMn, mosctl whois/status, moskillall. */
import { expect } from 'chai';
import { api, cli, cluster, eventually, mosrun, processInfo, program, type Harness } from './harness.js';

describe('MOSIX node numbers', function () {
  let h: Harness;
  before(async function () {
    this.timeout(180_000);
    h = await cluster();
  });
  const address = (i: number) => h.info.nodes[i]!.address;
  const row = (out: string, id: number) => out.split('\n').find((l) => l.startsWith(`${id} `)) ?? `(no row for process ${id} in:\n${out})`;

  it('mosrun starts on a node given by number as a flag (-2), by -rN, by address (-rADDRESS, -ADDRESS), and refuses an unknown one naming the nodes', async function () {
    this.timeout(120_000);
    for (const [args, node] of [
      [['-2'], 'node1'],
      [['-r3'], 'node2'],
      [[`-r${address(1)}`], 'node1'],
      [[`-${address(2)}`], 'node2'],
      [['-r', '1'], 'node0'],
    ] as const) {
      const r = await cli(h, 'mosrun', ['-v', ...args, 'true']);
      expect(r.exitCode, `mosrun ${args.join(' ')}: ${r.stderr}`).to.equal(0);
      expect(r.stderr, `mosrun ${args.join(' ')}`).to.match(new RegExp(`started on ${node} `));
    }
    const unknown = await cli(h, 'mosrun', ['-r9', 'true']);
    expect(unknown.exitCode).to.not.equal(0);
    expect(unknown.stderr).to.contain(`no node 9; the nodes are (number, name, address): 1 node0 (${address(0)}), 2 node1 (${address(1)}), 3 node2 (${address(2)})`);
  });

  it('mosmigrate moves by number and by address; mosps -n shows NMIGS and -AMn works; a typo\'d verb is suggested', async function () {
    this.timeout(180_000);
    const run = mosrun(h, ['-2', program('counter'), '600']);
    const id = await run.id();
    try {
      expect((await processInfo(h, id)).node).to.equal('node1');
      const moved = await cli(h, 'mosmigrate', [String(id), '3']);
      expect(moved.exitCode, moved.stderr).to.equal(0);
      expect(moved.stdout).to.match(new RegExp(`process ${id} moved (lazily )?from node1 to node2`));
      expect(await processInfo(h, id)).to.include({ node: 'node2', nmigs: 1 });

      const n = await cli(h, 'mosps', ['-n']);
      expect(n.exitCode, n.stderr).to.equal(0);
      expect(row(n.stdout, id)).to.match(new RegExp(`^${id}\\s+\\d+\\s+node2\\s+node0\\s+-\\s+1\\s+running\\s`));
      const amn = await cli(h, 'mosps', ['-AMn']);
      expect(amn.exitCode, amn.stderr).to.equal(0);
      expect(row(amn.stdout, id)).to.match(new RegExp(`^${id}\\s+\\d+\\s+node2\\s+node0\\s+-\\s+1\\s+running\\s+${h.info.client.user}\\s`));

      const typo = await cli(h, 'mosmigrate', [String(id), 'frezee']);
      expect(typo.exitCode).to.not.equal(0);
      expect(typo.stderr).to.match(/no node frezee \(did you mean freeze\?\)/);

      const home = await cli(h, 'mosmigrate', [String(id), address(0)]);
      expect(home.exitCode, home.stderr).to.equal(0);
      expect(await processInfo(h, id)).to.include({ node: 'node0', nmigs: 2 });
      await run.waitFor(/\d/);
      const mark = run.stdout().length;
      await eventually(async () => (run.stdout().length > mark ? true : undefined), () => `counter to print after the moves; it printed ${JSON.stringify(run.stdout().slice(-200))}`);
    } finally {
      await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
      await run.child;
    }
  });

  it("moskillall -KILL ends all the user's processes, wherever they run", async function () {
    this.timeout(120_000);
    const runs = [mosrun(h, ['-1', program('counter'), '600']), mosrun(h, ['-3', program('counter'), '600'])];
    const ids = await Promise.all(runs.map((r) => r.id()));
    try {
      const r = await cli(h, 'godwit', ['killall', '-KILL']);
      expect(r.exitCode, r.stderr).to.equal(0);
      for (const [i, run] of runs.entries()) {
        const done = await run.child;
        expect(done.exitCode, `mosrun of process ${ids[i]!}: ${run.stderr()}`).to.equal(137);
        expect(await processInfo(h, ids[i]!)).to.include({ state: 'exited', exitSignal: 'SIGKILL' });
      }
    } finally {
      for (const id of ids) await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
      await Promise.all(runs.map((r) => r.child));
    }
  });

  it('mosctl whois converts between number, name and address; mosctl status NODE prints MOSIX\'s key: value block; godwit nodes numbers them', async function () {
    this.timeout(60_000);
    const whois = async (spec: string) => {
      const r = await cli(h, 'mosctl', ['whois', spec]);
      expect(r.exitCode, r.stderr).to.equal(0);
      return r.stdout.trim();
    };
    expect(await whois('2')).to.equal('node1');
    expect(await whois('node2')).to.equal('3');
    expect(await whois(address(0))).to.equal('1');

    const status = await cli(h, 'mosctl', ['status', 'node1']);
    expect(status.exitCode, status.stderr).to.equal(0);
    expect(status.stdout).to.match(new RegExp(`^Node: 2 node1 \\(${address(1).replace(/\./g, '\\.')}\\)\\nStatus: Running Normally\\nLoad: `));
    expect(status.stdout).to.match(/^CPUS: 1$/m).and.match(/^Accept: Yes, will welcome processes from here$/m).and.match(/^Memory: Available \S+ \S+\/\S+ \S+$/m);
    const json = await cli(h, 'mosctl', ['status', '--json', '3']);
    expect(JSON.parse(json.stdout)).to.include({ number: 3, name: 'node2', address: address(2), accepts: true });

    const nodes = await cli(h, 'godwit', ['nodes']);
    h.info.nodes.forEach((n, i) => expect(nodes.stdout).to.match(new RegExp(`^${i + 1}\\s+${n.name}\\s+online\\s`, 'm')));
  });
});
