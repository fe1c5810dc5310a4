import { expect } from 'chai';
import { holderOf, sameToken } from '@godwit/schemas';

describe('token comparison', () => {
  const token = 'node0-token-0123456789';

  it('takes the same token and refuses one that differs in its last byte, or in its length', () => {
    expect(sameToken(token, token)).to.equal(true);
    expect(sameToken(`${token.slice(0, -1)}8`, token)).to.equal(false);
    expect(sameToken(token.slice(0, -1), token)).to.equal(false);
    expect(sameToken(`${token}0`, token)).to.equal(false);
    expect(sameToken('', token)).to.equal(false);
  });

  it("finds a token's holder among several, or none", () => {
    const holders = [{ name: 'a', token: 'aaaa-token' }, { name: 'b', token: 'bbbb-token' }];
    expect(holderOf(holders, 'bbbb-token')?.name).to.equal('b');
    expect(holderOf(holders, 'bbbb-tokem')).to.equal(undefined);
    expect(holderOf([], 'bbbb-token')).to.equal(undefined);
  });
});
