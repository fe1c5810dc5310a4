/**
 * A clear-text cluster (`godwit cluster up --no-tls`) end to end: its own cluster (two nodes, its
 * id besideClusterId()), brought up and taken down by this file, where the orchestrator and the agents speak
 * plain http, the client configuration carries no CA, and a program runs and moves with its
 * output whole, as on the suite's TLS cluster.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { fetchOver } from '@godwit/schemas/tls';
import { clusterDown, clusterUp } from '../../cli/src/cluster/index.js';
import { api, besideClusterId, cli, mosrun, numbersIn, oneTo, processInfo, program, setBalancer, type Harness } from './harness.js';

/** not the suite's: this cluster lives beside it */
const CLUSTER_ID = besideClusterId();

describe('a clear-text cluster (--no-tls)', function () {
  let home: string | undefined;
  let h: Harness | undefined;

  before(async function () {
    this.timeout(300_000);
    home = mkdtempSync(join(tmpdir(), 'godwit-clear-text-'));
    // a start that fails removes what it made (keepOnFailure is off)
    const info = await clusterUp({ home, id: CLUSTER_ID, nodes: 2, cpus: 1, memMiB: 2048, tls: false, log: () => undefined });
    h = { info, env: { ...process.env, GODWIT_HOME: home, GODWIT_CONFIG: info.clientConfigPath }, home, token: info.client.token, fetch: fetchOver(undefined) };
    // the program stays where the test puts it
    await setBalancer(h, { enabled: false, autoFreeze: false });
  });

  after(async function () {
    this.timeout(180_000);
    if (!home) return;
    const report = h ? await clusterDown({ home, log: () => undefined }) : { problems: [] };
    rmSync(home, { recursive: true, force: true });
    expect(report.problems, 'what cluster down left behind').to.deep.equal([]);
  });

  it('speaks plain http, and the client configuration carries no CA', async () => {
    const c = h!;
    expect(c.info.url).to.match(/^http:\/\//);
    expect(c.info.nodes.map((n) => n.url).filter((u) => !u.startsWith('http://')), 'agents not on plain http').to.deep.equal([]);
    expect(c.info.client.ca, 'a CA in the client configuration').to.equal(undefined);
    const nodes = await api<{ name: string; state: string }[]>(c, 'GET', '/v1/nodes');
    expect(nodes.body.map((n) => `${n.name} ${n.state}`), JSON.stringify(nodes.body)).to.deep.equal(['node0 online', 'node1 online']);
    const status = await cli(c, 'mosctl', ['status']);
    expect(status.exitCode, status.stderr).to.equal(0);
  });

  it('runs a program and moves it there and back, its output whole', async function () {
    this.timeout(240_000);
    const c = h!;
    const run = mosrun(c, ['-r', 'node0', program('counter'), '200']);
    const id = await run.id();
    await run.waitFor(/^3$/m);
    for (const to of ['node1', 'node0']) {
      const seen = Math.max(...numbersIn(run.stdout()));
      await run.waitFor(new RegExp(`^${seen + 2}$`, 'm'));
      const mig = await cli(c, 'mosmigrate', [String(id), to]);
      expect(mig.exitCode, `mosmigrate ${id} ${to}: ${mig.stderr}`).to.equal(0);
      expect((await processInfo(c, id)).node).to.equal(to);
    }
    const result = await run.child;
    expect(result.exitCode, `mosrun's status; stderr: ${run.stderr()}`).to.equal(0);
    expect(numbersIn(run.stdout()), 'every number once, in order, across two moves').to.deep.equal(oneTo(200));
    expect((await processInfo(c, id)).nmigs).to.equal(2);
  });
});
