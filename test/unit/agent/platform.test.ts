import { expect } from 'chai';
import { describePlatform, featureHash, parseCpuinfo } from '../../../agent/src/platform.js';

const X86 = `processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme sse sse2 avx avx2 fpu

processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme sse sse2 avx avx2 fpu
`;

const ARM = `processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32
CPU implementer\t: 0x41
`;

describe('the platform an agent reports', () => {
  it("reads the first processor's model and feature names, sorted and each once", () => {
    expect(parseCpuinfo(X86)).to.deep.equal({ model: 'AMD EPYC 7B13', features: ['avx', 'avx2', 'fpu', 'sse', 'sse2', 'vme'] });
  });

  it("reads arm64's Features, which has no model name", () => {
    const cpu = parseCpuinfo(ARM);
    expect(cpu.features).to.include('asimd');
    expect(cpu.model).to.equal('0x41');
  });

  it('reports the masked features as absent, names them, and hashes what it reports', () => {
    const p = describePlatform(parseCpuinfo(X86), ['avx2', 'not_a_feature_here'], '6.1.0', '4.2.1');
    expect(p.cpuFeatures).to.deep.equal(['avx', 'fpu', 'sse', 'sse2', 'vme']);
    expect(p.cpuMasked).to.deep.equal(['avx2']);
    expect(p.cpuFeatureHash).to.equal(featureHash(['vme', 'sse2', 'sse', 'fpu', 'avx'])).and.match(/^[0-9a-f]{16}$/);
    expect(p.cpuFeatureHash).to.not.equal(describePlatform(parseCpuinfo(X86), [], '6.1.0', '4.2.1').cpuFeatureHash);
  });
});
