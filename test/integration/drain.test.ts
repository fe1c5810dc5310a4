/** mosctl drain (MOSIX's expel): every process leaves the node and runs on elsewhere; nothing new starts there. */
import { expect } from 'chai';
import type { DrainResult } from '@godwit/schemas';
import { asGuest, cli, cluster, mosrun, numbersIn, oneTo, processInfo, program, type Harness } from './harness.js';

describe('draining a node (mosctl drain / undrain)', function () {
  /** the cluster as its guest: the programs run as the unprivileged account; draining is the admin's */
  let h: Harness;
  before(async function () {
    this.timeout(180_000);
    h = asGuest(await cluster());
  });

  it('moves every process off node1, starts nothing there until undrained, and is for admins only', async function () {
    this.timeout(180_000);
    const admin = { env: { ...h.env, GODWIT_CONFIG: h.info.adminConfigPath } };
    // counters that outlast the CLI calls before the drain, even on a loaded machine
    const lines = [150, 160];
    const runs = lines.map((n) => mosrun(h, ['-r', 'node1', program('counter'), String(n)]));
    const ids = await Promise.all(runs.map((r) => r.id()));
    await Promise.all(runs.map((r) => r.waitFor(/^2$/m)));
    try {
      const refused = await cli(h, 'mosctl', ['drain', 'node1']);
      expect(refused.exitCode).to.not.equal(0);
      expect(refused.stderr).to.match(/only an administrator may drain a node/);

      const res = await cli(h, 'mosctl', ['drain', '--json', 'node1'], admin);
      expect(res.exitCode, res.stderr).to.equal(0);
      const drained = JSON.parse(res.stdout) as DrainResult;
      expect(drained.moved.map((m) => m.processId).sort(), res.stdout).to.deep.equal([...ids].sort());
      for (const id of ids) {
        const p = await processInfo(h, id);
        expect([p.state, p.node === 'node1'], `process ${id} after the drain`).to.deep.equal(['running', false]);
      }
      const status = await cli(h, 'mosctl', ['status', 'node1']);
      expect(status.stdout).to.match(/^Status: Running, drained/m).and.match(/^Accept: No: drained/m);
      const blocked = await cli(h, 'mosrun', ['-r', 'node1', 'true']);
      expect(blocked.exitCode).to.not.equal(0);
      expect(blocked.stderr).to.match(/node node1 is drained/);
    } finally {
      await cli(h, 'mosctl', ['undrain', 'node1'], admin);
    }
    const again = await cli(h, 'mosrun', ['-r', 'node1', 'true']);
    expect(again.exitCode, again.stderr).to.equal(0);
    for (const [i, run] of runs.entries()) {
      const result = await run.child;
      expect(result.exitCode, run.stderr()).to.equal(0);
      expect(numbersIn(run.stdout()), 'every line once, in order, through the drain').to.deep.equal(oneTo(lines[i]!));
    }
  });

  it('mossetpe -r lists the nodes with their addresses; -R says why it cannot; mosctl localstatus shows the home node', async function () {
    this.timeout(60_000);
    const list = await cli(h, 'mossetpe', ['-r']);
    expect(list.exitCode, list.stderr).to.equal(0);
    h.info.nodes.forEach((n, i) => expect(list.stdout).to.match(new RegExp(`^${i + 1} ${n.address.replace(/\./g, '\\.')} ${n.name}$`, 'm')));
    const replace = await cli(h, 'mossetpe', ['-R', '/tmp/nodes.txt']);
    expect(replace.exitCode).to.equal(2);
    expect(replace.stderr).to.match(/orchestrator's configuration/);
    const local = await cli(h, 'mosctl', ['localstatus']);
    expect(local.exitCode, local.stderr).to.equal(0);
    expect(local.stdout).to.match(/^Node: 1 node0 /m).and.match(/^Status: Running Normally$/m).and.match(/^balancer (on|off):/m);
  });
});
