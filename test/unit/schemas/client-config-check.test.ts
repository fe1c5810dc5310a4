import fs from 'node:fs';
import { expect } from 'chai';
import { Value } from 'typebox/value';
import { ClientConfig } from '../../../schemas/src/config.js';
import { isClientConfig } from '../../../schemas/src/client-config-check.js';
import { CHECK_FILE, clientConfigCheckSource } from '../../../schemas/scripts/generate-checks.js';

describe('the generated check of the client configuration', () => {
  it('is what TypeBox generates from ClientConfig now (else: npm run generate -w schemas)', () => {
    expect(fs.readFileSync(CHECK_FILE, 'utf8')).to.equal(clientConfigCheckSource());
  });

  it("says what TypeBox's checker says, of good and bad configurations", () => {
    const good = { url: 'http://10.77.0.1:7700', token: 't', user: 'ann', homeNode: 'node0' };
    const cases: unknown[] = [good, { ...good, token: 1 }, { url: 'x', token: 't', user: 'u' }, null, [], 'text', { ...good, extra: true }];
    for (const c of cases) expect(isClientConfig(c), JSON.stringify(c)).to.equal(Value.Check(ClientConfig, c));
  });
});
