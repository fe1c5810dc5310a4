/** Where mosrun starts a program: -m refuses when no node has the memory; -b picks the idle node. */
import { expect } from 'chai';
import type { Node, Process } from '@godwit/schemas';
import { api, asGuest, cli, cluster, eventually, mosrun, processInfo, type Harness } from './harness.js';

const BUSY = ['test/programs/bin/busyloop', '80000000000'];

describe('placement when starting (mosrun -m, -b)', function () {
  /** the cluster as its guest: the programs run as the unprivileged account */
  let h: Harness;
  before(async function () {
    this.timeout(180_000);
    h = asGuest(await cluster());
  });

  it('refuses -m larger than any node has free, and starts nothing', async function () {
    this.timeout(60_000);
    const before = (await api<Process[]>(h, 'GET', '/v1/processes')).body.length;
    const res = await cli(h, 'mosrun', ['-m', '100000000', 'true']);
    expect(res.exitCode, res.stderr).to.not.equal(0);
    expect(res.stderr).to.match(/has 100000000 MiB of free memory/).and.match(/nothing was started/);
    expect((await api<Process[]>(h, 'GET', '/v1/processes')).body.length, 'no process recorded').to.equal(before);
  });

  it('-b starts on the node with spare CPU while the others are busy', async function () {
    this.timeout(120_000);
    const busy = [mosrun(h, ['-r', 'node0', ...BUSY]), mosrun(h, ['-r', 'node1', ...BUSY])];
    const ids = await Promise.all(busy.map((r) => r.id()));
    try {
      let seen = '';
      await eventually(async () => {
        const nodes = (await api<Node[]>(h, 'GET', '/v1/nodes')).body;
        seen = nodes.map((n) => `${n.name} ${n.load?.cpuUsed ?? '?'}`).join(', ');
        const used = (name: string) => nodes.find((n) => n.name === name)?.load?.cpuUsed ?? 0;
        return used('node0') > 0.5 && used('node1') > 0.5 && used('node2') < 0.5 ? true : undefined;
      }, () => `node0 and node1 busy and node2 idle (CPUs used: ${seen})`, 60_000);
      const res = await cli(h, 'mosrun', ['-b', '-v', 'true']);
      expect(res.exitCode, res.stderr).to.equal(0);
      expect(res.stderr).to.match(/started on node2/);
    } finally {
      for (const id of ids) await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
      await Promise.all(busy.map((r) => r.child));
    }
    for (const id of ids) expect((await processInfo(h, id)).state).to.equal('exited');
  });
});
