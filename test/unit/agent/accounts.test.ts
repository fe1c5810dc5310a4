import { expect } from 'chai';
import { GodwitError } from '@godwit/schemas';
import { accountNameOf, resolveAccount } from '../../../agent/src/accounts.js';

describe('accounts', () => {
  it('keeps an answer, so that a restore does not wait for getent and id', async () => {
    const first = resolveAccount('root', 'node0');
    expect(resolveAccount('root', 'node0'), 'the second lookup is the first one').to.equal(first);
    expect(await first).to.include({ name: 'root', uid: 0, gid: 0 });
  });

  it('keeps no refusal: an account made a moment later is found', async () => {
    const name = 'godwit-no-such-account';
    const refused = async (p: Promise<unknown>) => {
      const err = await p.then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(GodwitError);
      expect((err as GodwitError).code).to.equal('GODWIT_ERR_NO_ACCOUNT');
    };
    const first = resolveAccount(name, 'node0');
    await refused(first);
    const again = resolveAccount(name, 'node0');
    expect(again, 'a refused name is looked up again').to.not.equal(first);
    await refused(again);
  });

  it('names the account of a uid (a caller on the local socket), and says when a uid has none', async () => {
    expect(await accountNameOf(0, 'node0')).to.equal('root');
    const err = await accountNameOf(4_000_000_000, 'node0').then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(GodwitError);
    expect((err as GodwitError).code).to.equal('GODWIT_ERR_NO_ACCOUNT');
    expect((err as GodwitError).message).to.contain('uid 4000000000 has no account name on node0');
  });
});
