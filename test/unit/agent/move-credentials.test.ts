import { expect } from 'chai';
import type { GodwitError } from '@godwit/schemas';
import { createMoveCredentials } from '../../../agent/src/move-credentials.js';

/** the error fn throws; fails the test when it throws none */
function refusal(fn: () => void): GodwitError {
  try {
    fn();
  } catch (err) {
    return err as GodwitError;
  }
  throw new Error('it was taken');
}

describe("agent: a move's credential", () => {
  let t = 1_000_000;
  const now = () => t;

  it('is 256 random bits, valid for the hour', () => {
    const creds = createMoveCredentials({ now });
    const a = creds.issue(1);
    const b = creds.issue(2);
    expect(a.credential).to.match(/^[0-9a-f]{64}$/);
    expect(b.credential, 'two moves get two credentials').to.not.equal(a.credential);
    expect(a.expiresAt).to.equal(t + 60 * 60_000);
  });

  it('is taken once, for its migration only', () => {
    const creds = createMoveCredentials({ now });
    const { credential } = creds.issue(7);
    const other = creds.issue(8).credential;
    const wrongMigration = refusal(() => creds.take(8, credential));
    expect(wrongMigration.code, wrongMigration.message).to.equal('GODWIT_ERR_UNAUTHORIZED');
    expect(wrongMigration.message).to.contain('migration 8');
    expect(() => creds.take(7, credential), 'the first use').to.not.throw();
    const again = refusal(() => creds.take(7, credential));
    expect(again.code, again.message).to.equal('GODWIT_ERR_UNAUTHORIZED');
    expect(again.message).to.contain('used already');
    expect(() => creds.take(8, other), "the other migration's, untouched by the wrong tries").to.not.throw();
  });

  it('refuses a wrong secret, one differing in its last character, and none, and still takes the right one after', () => {
    const creds = createMoveCredentials({ now });
    const { credential } = creds.issue(3);
    const lastChanged = credential.slice(0, -1) + (credential.endsWith('0') ? '1' : '0');
    for (const wrong of [lastChanged, '', 'node1-token-0123456789', credential.toUpperCase()]) {
      const e = refusal(() => creds.take(3, wrong));
      expect(e.code, `${wrong}: ${e.message}`).to.equal('GODWIT_ERR_UNAUTHORIZED');
    }
    expect(() => creds.take(3, credential)).to.not.throw();
  });

  it('refuses one past its time, and one revoked when its move ended', () => {
    const creds = createMoveCredentials({ now, ttlMs: 1000 });
    const late = creds.issue(4).credential;
    t += 1000;
    expect(refusal(() => creds.take(4, late)).message).to.contain('expired');
    const ended = creds.issue(5).credential;
    creds.revoke(5);
    expect(refusal(() => creds.take(5, ended)).code).to.equal('GODWIT_ERR_UNAUTHORIZED');
  });

  it('gives a new credential for a migration asked again, and the earlier one no longer works', () => {
    const creds = createMoveCredentials({ now });
    const first = creds.issue(6).credential;
    const second = creds.issue(6).credential;
    expect(refusal(() => creds.take(6, first)).code).to.equal('GODWIT_ERR_UNAUTHORIZED');
    expect(() => creds.take(6, second)).to.not.throw();
  });
});
