import { expect } from 'chai';
import { GodwitError, type Node, type NodePlatform } from '@godwit/schemas';
import { cpuFits, cpuMismatch, missingCpuFeatures, requireCpuFits, requireCpuRuns } from '../../../orchestrator/src/cpu-compat.js';
import { place } from '../../../orchestrator/src/placement.js';

const platform = (cpuFeatures: string[]): NodePlatform => ({
  cpuModel: 'Test CPU', cpuFeatures, cpuMasked: [], cpuFeatureHash: cpuFeatures.join(''), kernel: '6.1.0', criuVersion: '4.2.1',
});
const FULL = ['fpu', 'sse', 'sse2', 'avx', 'avx2', 'bmi2', 'hypervisor', 'ht', 'constant_tsc'];

describe("CPU compatibility (CRIU's cpuinfo check, --cpu-cap fpu,ins)", () => {
  it('names the instruction-set features the source has and the destination lacks', () => {
    expect(missingCpuFeatures(platform(FULL), platform(FULL.filter((f) => f !== 'avx2' && f !== 'bmi2')))).to.deep.equal(['avx2', 'bmi2']);
  });

  it('lets a destination have more, as CRIU does', () => {
    expect(missingCpuFeatures(platform(['fpu', 'sse']), platform(FULL))).to.deep.equal([]);
  });

  it('ignores features CRIU does not compare (hypervisor, ht, constant_tsc)', () => {
    expect(missingCpuFeatures(platform(FULL), platform(FULL.filter((f) => !['hypervisor', 'ht', 'constant_tsc'].includes(f))))).to.deep.equal([]);
  });

  it('compares the FPU bits (fxsr, xsaves) and kernel spellings of CRIU\'s names (pni for sse3, sha_ni)', () => {
    expect(missingCpuFeatures(platform(['fpu', 'fxsr', 'xsaves', 'pni', 'sha_ni']), platform(['fpu']))).to.deep.equal(['fxsr', 'pni', 'sha_ni', 'xsaves']);
  });

  it('refuses nothing where a node has not reported its CPU (an agent from before)', () => {
    expect(cpuFits({ name: 'node0', platform: platform(FULL) }, { name: 'node2', platform: null })).to.equal(true);
    expect(cpuMismatch('process 1', { name: 'node0', platform: null }, { name: 'node2', platform: platform([]) })).to.equal(undefined);
  });

  it('throws GODWIT_ERR_CPU_INCOMPATIBLE naming the node, the features and what was not done', () => {
    const from = { name: 'node0', platform: platform(FULL) };
    const to = { name: 'node2', platform: platform(FULL.filter((f) => f !== 'avx2')) };
    let err: unknown;
    try {
      requireCpuFits('process 3 (running on node0)', from, to, 'the process was not stopped');
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(GodwitError);
    const g = err as GodwitError;
    expect(g.code).to.equal('GODWIT_ERR_CPU_INCOMPATIBLE');
    expect(g.message).to.equal("node2's CPU lacks avx2 that node0's CPU has: process 3 (running on node0) would die of SIGILL there; the process was not stopped (`godwit nodes -V` shows each node's CPU)");
    expect(g.details).to.deep.include({ node: 'node2', from: 'node0', missing: ['avx2'] });
  });
});

describe('placement by CPU', () => {
  const node = (name: string, features: string[], cpuUsed = 0.5): Node => ({
    name, url: `http://${name}`, state: 'online', lastSeen: 0, features: null, platform: platform(features), drained: false,
    load: { at: 0, cpuCapacity: 1, cpuUsed, memTotalBytes: 2 ** 32, memFreeBytes: 2 ** 31, running: 0 },
  });
  const lesser = FULL.filter((f) => f !== 'avx2');
  const nodes = [node('node0', FULL, 0.9), node('node1', FULL, 0.5), node('node2', lesser, 0.1)];
  const cpu = { program: 'a program of home node node0', from: { name: 'node0', platform: platform(FULL) } };

  it('refuses a named node whose CPU lacks a feature of the home node\'s', () => {
    expect(() => place(nodes, { home: 'node0', node: 'node2', cpu })).to.throw(GodwitError, /node2's CPU lacks avx2 .*nothing was started/);
  });

  it('skips such a node when choosing the best one, though it has the most spare CPU', () => {
    expect(place(nodes, { home: 'node0', best: true, cpu })).to.equal('node1');
  });

  it('says why when no node fits', () => {
    expect(() => place([nodes[2]!], { home: 'node0', best: true, cpu })).to.throw(GodwitError, /no node's CPU fits: node2's CPU lacks avx2/);
  });
});

describe("a move's check on its destination (requireCpuRuns)", () => {
  const asked: { to: string; from: string; cpuinfo: string }[] = [];
  /** what each destination accepted since its hello, as the registry keeps it */
  let accepted = new Map<string, Map<string, string>>();
  const ctx = (record: string | undefined, answer: Error | undefined) => ({
    nodes: {
      cpuinfo: (name: string) => (name === 'node0' ? record : undefined),
      cpuAccepted: (name: string) => accepted.get(name) ?? accepted.set(name, new Map()).get(name),
      list: () => [{ name: 'node0', platform: platform(FULL) }, { name: 'node2', platform: platform(FULL.filter((f) => f !== 'avx2')) }] as Node[],
    },
    agent: (to: string) => ({
      cpuCheck: async (req: { from: string; cpuinfo: string }) => {
        asked.push({ to, ...req });
        if (answer) throw answer;
      },
    }),
  }) as unknown as Parameters<typeof requireCpuRuns>[0];
  beforeEach(() => {
    asked.splice(0);
    accepted = new Map();
  });

  it("sends the source's CPU record to the destination, which says whether CRIU would restore it there", async () => {
    await requireCpuRuns(ctx('UkVDT1JE', undefined), 'process 3 (running on node0)', 'node0', 'node1', 'the process was not stopped');
    expect(asked).to.deep.equal([{ to: 'node1', from: 'node0', cpuinfo: 'UkVDT1JE' }]);
  });

  it("passes on the destination's refusal, saying what would happen and what was not done", async () => {
    const refusal = new GodwitError('GODWIT_ERR_CPU_INCOMPATIBLE', "node2's CPU lacks avx2 that node0's CPU has: CRIU's `cpuinfo check` on node2 refuses node0's CPU: cpu: CPU instruction capabilities do not match run time", { missing: ['avx2'] });
    const err = await requireCpuRuns(ctx('UkVDT1JE', refusal), 'process 3 (running on node0)', 'node0', 'node2', 'the process was not stopped').then(() => undefined, (e: unknown) => e as GodwitError);
    expect(err?.code).to.equal('GODWIT_ERR_CPU_INCOMPATIBLE');
    expect(err?.message).to.equal(`process 3 (running on node0) would die of SIGILL on node2: ${refusal.message}; the process was not stopped`);
    expect(err?.details).to.deep.include({ node: 'node2', from: 'node0', missing: ['avx2'] });
  });

  it('asks a destination once for a source record it accepted, again for another record, and again after a refusal', async () => {
    const ask = (record: string, answer?: Error) =>
      requireCpuRuns(ctx(record, answer), 'process 3 (running on node0)', 'node0', 'node1', 'the process was not stopped').then(() => 'ok', (e: unknown) => (e as GodwitError).code);
    expect([await ask('UkVDT1JE'), await ask('UkVDT1JE')]).to.deep.equal(['ok', 'ok']);
    expect(asked, 'the second move was not asked about').to.have.length(1);
    expect(await ask('T1RIRVI=', new GodwitError('GODWIT_ERR_CPU_INCOMPATIBLE', 'lacks avx2'))).to.equal('GODWIT_ERR_CPU_INCOMPATIBLE');
    expect(await ask('T1RIRVI=')).to.equal('ok');
    expect(asked.map((a) => a.cpuinfo), 'a changed record, and a refused one, are asked about again').to.deep.equal(['UkVDT1JE', 'T1RIRVI=', 'T1RIRVI=']);
  });

  it('compares the names where the source sent no record, and asks nothing of the destination', async () => {
    const err = await requireCpuRuns(ctx(undefined, undefined), 'process 3 (running on node0)', 'node0', 'node2', 'the process was not stopped').then(() => undefined, (e: unknown) => e as GodwitError);
    expect(err?.message).to.match(/^node2's CPU lacks avx2 that node0's CPU has/);
    expect(asked).to.deep.equal([]);
  });
});
