/**
 * Issue 20, test 6: a node whose CPU lacks a feature the program's CPU has is refused before the
 * program stops, naming the feature: a move there (mosmigrate, the API, a continue of a frozen
 * program) and a start there (`mosrun -r`). The cluster's node2 masks a feature node0 and node1
 * have (its agent's cpuFeatureMask: the simulation of a lesser CPU on one machine). A move or a
 * continue is refused by node2's own `criu cpuinfo check` of node0's CPU record, which the mask
 * makes fail as CRIU fails on a CPU without the feature; node1's check of the same record passes.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import type { Node, WhyResult } from '@godwit/schemas';
import { api, cli, cluster, eventually, mosrun, numbersIn, processInfo, program, type Harness } from './harness.js';

/** a feature CRIU's default check compares, that this machine's CPU has (the first one found) */
function maskedFeature(): string {
  const flags = new Set(/^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim().split(/\s+/) ?? []);
  const feature = ['avx2', 'sse4_2', 'ssse3', 'sse2'].find((f) => flags.has(f));
  if (!feature) throw new Error(`this CPU has none of avx2, sse4_2, ssse3, sse2 in /proc/cpuinfo's flags: ${[...flags].join(' ')}`);
  return feature;
}

const FEATURE = maskedFeature();
const STACK_TRACE = /^\s+at .+\(.*:\d+:\d+\)$/m;

describe('CPU compatibility: a node whose CPU lacks a feature is refused before anything stops', function () {
  let h: Harness;
  before(async function () {
    this.timeout(180_000);
    h = await cluster({ cpuFeatureMask: { node2: [FEATURE] } });
  });

  it("shows each node's CPU model, feature hash, kernel and CRIU (godwit nodes -V), node2's hash apart", async function () {
    this.timeout(60_000);
    const table = await cli(h, 'godwit', ['nodes', '-V']);
    expect(table.exitCode, table.stderr).to.equal(0);
    expect(table.stdout).to.match(/CPU MODEL/).and.match(/FEATURE HASH/).and.match(/KERNEL/).and.match(/CRIU/);
    const nodes = JSON.parse((await cli(h, 'godwit', ['nodes', '--json'])).stdout) as Node[];
    const [n0, n1, n2] = ['node0', 'node1', 'node2'].map((name) => nodes.find((n) => n.name === name)!.platform!);
    expect(n0, `node0 reports its platform: ${JSON.stringify(nodes)}`).to.exist;
    expect(n0!.cpuFeatures).to.include(FEATURE);
    expect(n2!.cpuFeatures, "node2's report lacks the masked feature").to.not.include(FEATURE);
    expect(n2!.cpuMasked).to.deep.equal([FEATURE]);
    expect(n1!.cpuFeatureHash, 'node0 and node1: the same CPU').to.equal(n0!.cpuFeatureHash);
    expect(n2!.cpuFeatureHash, 'node2: one feature less').to.not.equal(n0!.cpuFeatureHash);
    for (const p of [n0!, n1!, n2!]) {
      expect(table.stdout, `the table shows ${JSON.stringify({ ...p, cpuFeatures: undefined })}`).to.include(p.cpuFeatureHash).and.include(p.kernel).and.include(p.criuVersion);
    }
    expect(table.stdout).to.include(n0!.cpuModel).and.match(new RegExp(`node2 .*${FEATURE}`));
  });

  it('refuses mosmigrate and the API to node2 while the program runs on in place, names the feature in `godwit why`, and moves it to node1', async function () {
    this.timeout(240_000);
    const run = mosrun(h, [program('counter'), '400']);
    const id = await run.id();
    await run.waitFor(/^3$/m);
    const before = await processInfo(h, id);
    expect(before.node).to.equal('node0');

    const refused = await cli(h, 'mosmigrate', [String(id), 'node2']);
    expect(refused.exitCode, `mosmigrate ${id} node2: ${refused.stdout} ${refused.stderr}`).to.not.equal(0);
    expect(refused.stderr, 'the refusal names the node and the missing feature').to.include('node2').and.include(FEATURE).and.match(/not stopped/);
    expect(refused.stderr, 'no stack trace').to.not.match(STACK_TRACE);
    // the refusal is node2's own CRIU check of node0's CPU record, the mask standing for a CPU without the feature
    expect(refused.stderr).to.include("CRIU's `cpuinfo check` would refuse it").and.include("node2's cpuFeatureMask");
    for (const strategy of ['full', 'lazy']) {
      const res = await api<{ code: string; message: string }>(h, 'POST', `/v1/processes/${id}/migrate`, { to: 'node2', strategy });
      expect(res.status, JSON.stringify(res.body)).to.equal(409);
      expect(res.body.code).to.equal('GODWIT_ERR_CPU_INCOMPATIBLE');
      expect(res.body.message).to.include(FEATURE);
    }

    // it ran on, untouched: the same host PID on node0, still writing
    const seen = Math.max(...numbersIn(run.stdout()));
    await run.waitFor(new RegExp(`^${seen + 2}$`, 'm'));
    const after = await processInfo(h, id);
    expect(after, JSON.stringify(after)).to.include({ node: 'node0', pid: before.pid, state: 'running', nmigs: 0 });
    const ps = JSON.parse((await cli(h, 'mosps', ['--json'])).stdout) as { id: number; node: string; state: string }[];
    expect(ps.find((p) => p.id === id), JSON.stringify(ps)).to.include({ node: 'node0', state: 'running' });

    const why = await api<WhyResult>(h, 'GET', `/v1/processes/${id}/why`);
    expect(why.body.ruledOut.map((r) => r.node), JSON.stringify(why.body)).to.deep.equal(['node2']);
    expect(why.body.ruledOut[0]!.reason).to.include(FEATURE);
    const whyText = await cli(h, 'godwit', ['why', String(id)]);
    expect(whyText.stdout, whyText.stderr).to.match(new RegExp(`node2: .*${FEATURE}`));

    const moved = await cli(h, 'mosmigrate', [String(id), 'node1']);
    expect(moved.exitCode, `mosmigrate ${id} node1: ${moved.stderr}`).to.equal(0);
    expect((await processInfo(h, id)).node).to.equal('node1');
    // node1's CPU is node0's: node2 is refused from there too
    const again = await cli(h, 'mosmigrate', [String(id), 'node2']);
    expect(again.exitCode, again.stderr).to.not.equal(0);
    expect(again.stderr).to.include(FEATURE);

    expect((await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' })).status).to.equal(204);
    await run.child;
  });

  it('keeps a frozen program frozen when asked to continue on node2, and continues it on node1', async function () {
    this.timeout(180_000);
    const run = mosrun(h, [program('counter'), '400']);
    const id = await run.id();
    await run.waitFor(/^2$/m);
    expect((await cli(h, 'mosmigrate', [String(id), 'freeze'])).exitCode).to.equal(0);
    const refused = await cli(h, 'mosmigrate', [String(id), 'continue', 'node2']);
    expect(refused.exitCode, refused.stderr).to.not.equal(0);
    expect(refused.stderr).to.include(FEATURE).and.match(/stays frozen/).and.include("CRIU's `cpuinfo check` would refuse it");
    expect(refused.stderr, 'no stack trace').to.not.match(STACK_TRACE);
    expect((await processInfo(h, id)).state).to.equal('frozen');
    const cont = await cli(h, 'mosmigrate', [String(id), 'continue', 'node1']);
    expect(cont.exitCode, cont.stderr).to.equal(0);
    await eventually(async () => ((await processInfo(h, id)).node === 'node1' ? true : undefined), `process ${id} to run on node1`);
    expect((await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' })).status).to.equal(204);
    await run.child;
  });

  it('refuses `mosrun -r node2` naming the feature, and starts nothing', async function () {
    this.timeout(60_000);
    const before = JSON.parse((await cli(h, 'mosps', ['--exited', '--json'])).stdout) as unknown[];
    const run = mosrun(h, ['-r', 'node2', program('counter'), '5']);
    const result = await run.child;
    expect(result.exitCode, `mosrun -r node2: ${run.stderr()}`).to.not.equal(0);
    expect(run.stderr(), 'the refusal names the node and the feature').to.include('node2').and.include(FEATURE);
    expect(run.stderr(), 'no stack trace').to.not.match(STACK_TRACE);
    expect(run.stdout(), 'the program never ran').to.equal('');
    const after = JSON.parse((await cli(h, 'mosps', ['--exited', '--json'])).stdout) as unknown[];
    expect(after.length, 'no process was recorded').to.equal(before.length);
    const ok = mosrun(h, ['-r', 'node1', program('counter'), '3']);
    expect((await ok.child).exitCode, ok.stderr()).to.equal(0);
  });
});
