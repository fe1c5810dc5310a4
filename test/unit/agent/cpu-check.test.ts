/**
 * The destination's check of another node's CPU record (agent/src/cpu-check.ts): the features a
 * cpuinfo.img records, CRIU's refusal turned into words naming the features, and cpuFeatureMask
 * refusing as CRIU refuses a CPU that lacks the masked feature. CRIU itself is faked here.
 */
import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CRIU_CPU_FEATURES, GodwitError } from '@godwit/schemas';
import { type CpuCheckDeps, cpuinfoDir, criuWouldSay, recordedFeatures, requireCpuRecordFits } from '../../../agent/src/cpu-check.js';

const varint = (v: number): Buffer => {
  const out: number[] = [];
  for (let n = v >>> 0; ; n >>>= 7) {
    if (n < 0x80) return Buffer.from([...out, n]);
    out.push((n & 0x7f) | 0x80);
  }
};
const bytesField = (field: number, b: Buffer) => Buffer.concat([varint((field << 3) | 2), varint(b.length), b]);
const u32Field = (field: number, v: number) => Buffer.concat([varint(field << 3), varint(v)]);

/** a cpuinfo.img as `criu cpuinfo dump` writes it, recording these features */
function cpuinfoImage(features: readonly string[]): Buffer {
  const words = new Array<number>(19).fill(0);
  for (const f of features) {
    const bit = CRIU_CPU_FEATURES[f]!;
    words[bit >> 5] = (words[bit >> 5]! | (1 << (bit & 31))) >>> 0;
  }
  const x86 = Buffer.concat([u32Field(1, 2), u32Field(2, 25), u32Field(3, 1), u32Field(4, 1), u32Field(5, 2), ...words.map((w) => u32Field(6, w))]);
  const entry = bytesField(1, x86);
  const head = Buffer.alloc(12);
  head.writeUInt32LE(0x54564319, 0);
  head.writeUInt32LE(0x61404013, 4);
  head.writeUInt32LE(entry.length, 8);
  return Buffer.concat([head, entry]);
}

const BASE = ['fpu', 'fxsr', 'sse', 'sse2', 'ssse3', 'sse4_2', 'avx'];

async function refusal(p: Promise<unknown>): Promise<GodwitError> {
  const err = await p.then(() => expect.fail('passed where it should refuse'), (e: unknown) => e);
  expect(err, String(err)).to.be.instanceOf(GodwitError);
  return err as GodwitError;
}

describe("a destination's check of another node's CPU record", () => {
  let dataDir: string;
  let checked: string[];
  let criuSays: string[];
  const deps = (mask: string[] = []): CpuCheckDeps => ({
    node: 'node2',
    dataDir,
    mask,
    criu: {
      cpuinfoCheck: async (dir) => {
        checked.push(dir);
        expect(existsSync(join(dir, 'cpuinfo.img')), 'CRIU finds the record in its directory').to.equal(true);
        return criuSays;
      },
    },
  });
  const own = (features: string[]) => {
    mkdirSync(cpuinfoDir(dataDir), { recursive: true });
    writeFileSync(join(cpuinfoDir(dataDir), 'cpuinfo.img'), cpuinfoImage(features));
  };
  const from = (features: string[]) => ({ from: 'node0', cpuinfo: cpuinfoImage(features).toString('base64') });

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'godwit-cpu-check-'));
    checked = [];
    criuSays = [];
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('reads the features CRIU compares from a cpuinfo image, by their /proc/cpuinfo names', () => {
    expect([...recordedFeatures(cpuinfoImage([...BASE, 'avx2', 'avx512_4fmaps', '3dnow']))].sort()).to.deep.equal([...BASE, 'avx2', 'avx512_4fmaps', '3dnow'].sort());
    expect(() => recordedFeatures(Buffer.from('not an image'))).to.throw(/magic/);
  });

  it('passes a record CRIU accepts, and leaves no scratch directory behind', async () => {
    own([...BASE, 'avx2']);
    await requireCpuRecordFits(deps(), from([...BASE, 'avx2']));
    expect(checked).to.have.length(1);
    expect(readdirSync(dataDir)).to.deep.equal(['cpuinfo']);
  });

  it("refuses with CRIU's reason where CRIU refuses, naming the features this CPU lacks", async () => {
    own(BASE);
    criuSays = ['cpu: CPU instruction capabilities do not match run time'];
    const err = await refusal(requireCpuRecordFits(deps(), from([...BASE, 'avx2', 'bmi2'])));
    expect(err.code).to.equal('GODWIT_ERR_CPU_INCOMPATIBLE');
    expect(err.message).to.equal("node2's CPU lacks avx2, bmi2 that node0's CPU has: CRIU's `cpuinfo check` on node2 refuses node0's CPU: cpu: CPU instruction capabilities do not match run time");
    expect(err.details).to.deep.include({ node: 'node2', from: 'node0', missing: ['avx2', 'bmi2'] });
    expect(readdirSync(dataDir)).to.deep.equal(['cpuinfo']);
  });

  it("refuses a record with a feature the node masks as CRIU refuses a CPU without it, though the real CPU passes", async () => {
    own([...BASE, 'avx2']);
    const err = await refusal(requireCpuRecordFits(deps(['avx2']), from([...BASE, 'avx2'])));
    expect(err.code).to.equal('GODWIT_ERR_CPU_INCOMPATIBLE');
    expect(err.message).to.include("node2's CPU lacks avx2 that node0's CPU has").and.include('CPU instruction capabilities do not match run time').and.include('cpuFeatureMask');
    expect(checked, 'CRIU was asked all the same').to.have.length(1);
    // a masked feature the source has not: nothing to refuse
    await requireCpuRecordFits(deps(['avx2']), from(BASE));
    expect(criuWouldSay(['xsaves'])).to.equal('FPU feature required by image is not supported on host');
  });

  it('answers a record that is no cpuinfo image as a bad request, without running CRIU', async () => {
    const err = await refusal(requireCpuRecordFits(deps(), { from: 'node0', cpuinfo: Buffer.from('junk').toString('base64') }));
    expect(err.code).to.equal('GODWIT_ERR_BAD_REQUEST');
    expect(err.message).to.include('node0');
    expect(checked).to.deep.equal([]);
  });
});
