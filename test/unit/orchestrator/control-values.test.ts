import { expect } from 'chai';
import { GodwitError } from '@godwit/schemas';
import { parseLock, parseNeedMem, parseTarget } from '../../../orchestrator/src/control-values.js';

const refused = (fn: () => unknown): GodwitError => {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(GodwitError);
    return err as GodwitError;
  }
  throw new Error('it was not refused');
};

describe('control file values', () => {
  it('needmem: bytes, or K, M, G in powers of 1024, in either case, with a newline or not', () => {
    expect(parseNeedMem('4096')).to.equal(4096);
    expect(parseNeedMem('0\n')).to.equal(0);
    expect(parseNeedMem('512K')).to.equal(512 * 1024);
    expect(parseNeedMem('100M\n')).to.equal(100 * 2 ** 20);
    expect(parseNeedMem('2g')).to.equal(2 * 2 ** 30);
    expect(parseNeedMem('3 GiB')).to.equal(3 * 2 ** 30);
    expect(parseNeedMem('64MB')).to.equal(64 * 2 ** 20);
  });

  it('needmem: refuses what is not a size, saying what it takes', () => {
    for (const bad of ['', 'lots', '-5', '1.5G', '10T', '12 34', '0x10', '99999999999999999999', '9999999999999G']) {
      const e = refused(() => parseNeedMem(bad));
      expect(e.code, bad).to.equal('GODWIT_ERR_BAD_REQUEST');
      expect(e.message).to.match(/needmem takes a number of bytes/);
    }
  });

  it('lock: 1 or 0 only', () => {
    expect(parseLock('1\n')).to.equal(true);
    expect(parseLock('0')).to.equal(false);
    for (const bad of ['', 'yes', '2', '01', 'true']) expect(refused(() => parseLock(bad)).message, bad).to.match(/lock takes 1/);
  });

  it('migrate: a node name or home, nothing that could be anything else', () => {
    expect(parseTarget('node1\n')).to.equal('node1');
    expect(parseTarget('home')).to.equal('home');
    for (const bad of ['', '../x', 'node 1', '-node', 'a'.repeat(65)]) expect(refused(() => parseTarget(bad)).message, bad).to.match(/migrate takes a node name/);
  });
});
