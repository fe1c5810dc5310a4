import { expect } from 'chai';
import { sizeInWords } from '@godwit/schemas';

describe('sizes in words', () => {
  it('says MiB to a tenth without a needless ".0", and bytes below one MiB', () => {
    expect(sizeInWords(800 * 2 ** 20)).to.equal('800 MiB');
    expect(sizeInWords(10.34 * 2 ** 20)).to.equal('10.3 MiB');
    expect(sizeInWords(2 ** 20)).to.equal('1 MiB');
    expect(sizeInWords(1000)).to.equal('1000 bytes');
  });
});
