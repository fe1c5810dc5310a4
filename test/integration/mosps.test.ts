/** mosps's flags against the real cluster: nodes by number (--numbers) or address (-I), verbose (-f), other users' processes (-A, aux). */
import { expect } from 'chai';
import { api, cli, cluster, mosrun, program, type Harness } from './harness.js';

describe('mosps flags', function () {
  let h: Harness;
  before(async function () {
    this.timeout(180_000);
    h = await cluster();
  });

  it('names nodes by number or address, shows more with -f, and everyone\'s processes to an admin with -A or aux', async function () {
    this.timeout(120_000);
    const run = mosrun(h, ['-r', 'node1', program('counter'), '600']);
    const id = await run.id();
    try {
      const row = (out: string) => out.split('\n').find((l) => l.startsWith(`${id} `)) ?? `(no row for process ${id} in:\n${out})`;
      const byNumber = await cli(h, 'mosps', ['--numbers']);
      expect(byNumber.exitCode, byNumber.stderr).to.equal(0);
      expect(row(byNumber.stdout)).to.match(new RegExp(`^${id}\\s+\\d+\\s+2\\s+1\\s+-\\s+0\\s+running\\s`));

      const byHost = await cli(h, 'mosps', ['-I']);
      const [home, where] = ['node0', 'node1'].map((n) => h.info.nodes.find((x) => x.name === n)!.address.replace(/\./g, '\\.'));
      expect(row(byHost.stdout)).to.match(new RegExp(`^${id}\\s+\\d+\\s+${where}\\s+${home}\\s`));

      const verbose = await cli(h, 'mosps', ['-f']);
      expect(verbose.stdout.split('\n')[0]).to.match(/^ID\s+PID\s+NOWPID\s+WHERE\s+FROM\s+FRZ\s+NMIGS\s+STATE\s+USER\s+ELAPSED\s+STOPPED\s+FROZEN\s+ADDRESS\s+CMD$/);
      expect(row(verbose.stdout)).to.match(new RegExp(`\\snode1\\s+node0\\s+-\\s+0\\s+running\\s+${h.info.client.user}\\s+\\d\\d:\\d\\d\\s+-\\s+-\\s+-\\s+\\S*counter 600$`));

      const admin = { env: { ...h.env, GODWIT_CONFIG: h.info.adminConfigPath } };
      for (const all of [['-A'], ['aux']]) {
        const others = await cli(h, 'mosps', all, admin);
        expect(row(others.stdout), `mosps ${all.join(' ')}: ${others.stdout}`).to.match(new RegExp(`\\srunning\\s+${h.info.client.user}\\s`));
      }
      const own = await cli(h, 'mosps', [], admin);
      expect(own.stdout, 'without -A an admin sees only their own').to.not.match(new RegExp(`^${id}\\s`, 'm'));
    } finally {
      await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
      await run.child;
    }
  });
});
