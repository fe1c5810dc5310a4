/**
 * Automatic load balancing: CPU-bound programs started on one node spread over the cluster by
 * themselves; a locked one and an I/O-bound one stay home; nothing goes back and forth.
 */
import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BalancerStatus, Process } from '@godwit/schemas';
import { api, asGuest, cli, cluster, eventually, guestDir, migrations, mosrun, processInfo, program, setBalancer, type Harness, type Run } from './harness.js';

describe('automatic load balancing', function () {
  /** the cluster as its guest: the programs run as the unprivileged account; the balancer is the admin's to set */
  let h: Harness;
  /** where the I/O-bound program writes */
  let scratch: string;
  before(async function () {
    this.timeout(180_000);
    h = asGuest(await cluster());
    scratch = guestDir(h, 'godwit-balance-');
  });
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('spreads 6 CPU-bound programs over the nodes; the locked and the I/O-bound ones stay home', async function () {
    this.timeout(300_000);
    const runs: Run[] = [];
    const ids: number[] = [];
    const start = async (args: string[]) => {
      const run = mosrun(h, ['-h', ...args]);
      runs.push(run);
      const id = await run.id();
      ids.push(id);
      return id;
    };
    try {
      // about 100 s of CPU each: they outlast the test, which ends them
      const busy: number[] = [];
      for (let i = 0; i < 6; i++) busy.push(await start([program('bin/busyloop'), '80000000000']));
      const locked = await start(['-L', program('bin/busyloop'), '80000000000']);
      const ioFile = join(scratch, 'io-bound.data');
      const io = await start(['sh', '-c', `while :; do dd if=/dev/zero of=${ioFile} bs=1M count=8 conv=fsync 2>/dev/null; done`]);
      const admin = { env: { ...h.env, GODWIT_CONFIG: h.info.adminConfigPath } };
      const set = await cli(h, 'mosctl', ['balance', 'set', 'min-cpu=1', 'hold=10', 'interval=1'], admin);
      expect(set.exitCode, set.stderr).to.equal(0);
      const on = await cli(h, 'mosctl', ['balance', 'on'], admin);
      expect(on.stdout).to.match(/^balancer on/);

      const where = async () => Promise.all(ids.map(async (id) => processInfo(h, id)));
      const spread = (ps: Process[]) => {
        const count = (n: string) => ps.filter((p) => busy.includes(p.id) && p.node === n).length;
        return count('node1') >= 2 && count('node2') >= 2 ? true : undefined;
      };
      let last: Process[] = [];
      await eventually(async () => spread((last = await where())), () => `the busy loops spread out; they run on ${last.filter((p) => busy.includes(p.id)).map((p) => p.node).join(', ')}`, 150_000);
      const now = await where();
      expect(now.find((p) => p.id === locked)!.node, 'the locked one').to.equal('node0');
      expect(now.find((p) => p.id === io)!.node, 'the I/O-bound one').to.equal('node0');
      expect(now.filter((p) => p.node === 'node0' && busy.includes(p.id)).length, 'busy loops left on node0').to.be.at.most(2);
      for (const id of ids) {
        const hops = (await migrations(h, id)).filter((m) => m.state === 'done').map((m) => [m.from, m.to] as const);
        for (let i = 1; i < hops.length; i++) {
          expect(hops[i], `process ${id} went ${hops.map((x) => x.join('->')).join(', ')}: straight back`).to.not.deep.equal([hops[i - 1]![1], hops[i - 1]![0]]);
        }
      }
      // the decisions say why, and `godwit why` says why the others stayed
      const status = await api<BalancerStatus>(h, 'GET', '/v1/balancer');
      expect(status.body.decisions.length).to.be.at.least(4);
      expect(status.body.decisions[0]!.reason).to.match(/CPU-bound/);
      const whyLocked = await cli(h, 'godwit', ['why', String(locked)]);
      expect(whyLocked.stdout).to.match(/locked \(mosrun -L\)/);
      const whyIo = await cli(h, 'godwit', ['why', String(io)]);
      expect(whyIo.stdout).to.match(/I\/O-bound/);
    } finally {
      await setBalancer(h, { enabled: false, minCpuSeconds: 5, holdSeconds: 20, intervalMs: 2000, maxMoves: 4 });
      for (const id of ids) await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
      await Promise.all(runs.map((r) => r.child));
    }
  });
});
