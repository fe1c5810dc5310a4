import { expect } from 'chai';
import { ACCOUNT_HEADER, GodwitError } from '@godwit/schemas';
import { callerOf } from '../../../orchestrator/src/auth.js';
import { checkConfig } from '../../../orchestrator/src/config.js';
import { type Cluster, startCluster, TOKENS } from './harness.js';

const NODE_TOKEN = 'node0-token-0123456789';

const config = (users: { name: string; token: string; admin?: boolean; account?: string }[]) =>
  checkConfig({
    listen: { host: '127.0.0.1', port: 0 },
    tls: false,
    dataDir: '/tmp/unused',
    users,
    nodes: [{ name: 'node0', url: 'http://127.0.0.1:1', token: NODE_TOKEN }],
    checkpointDir: '/tmp/unused/checkpoints',
  });

/** the error callerOf throws, or a failure naming whom it took the caller for */
function refusal(cfg: ReturnType<typeof config>, headers: Record<string, string>): GodwitError {
  try {
    const user = callerOf(cfg, headers);
    expect.fail(`expected a refusal, got user ${JSON.stringify(user)}`);
  } catch (err) {
    if (!(err instanceof GodwitError)) throw err;
    expect(err.code).to.equal('GODWIT_ERR_UNAUTHORIZED');
    return err;
  }
}

describe('orchestrator: a node vouches for its local users', function () {
  const users = [
    { name: 'alice', token: TOKENS.alice },
    { name: 'bob', token: TOKENS.bob, account: 'bob-unix' },
    { name: 'ops', token: TOKENS.root, admin: true, account: 'root' },
  ];
  const asNode = (account: string) => ({ authorization: `Bearer ${NODE_TOKEN}`, [ACCOUNT_HEADER]: account });

  it("takes a node's token with an account as the user of that account", () => {
    expect(callerOf(config(users), asNode('alice'))).to.deep.equal({ name: 'alice', admin: false });
    expect(callerOf(config(users), asNode('bob-unix'))).to.deep.equal({ name: 'bob', admin: false });
  });

  it('prefers the user named as the account where several share it', () => {
    const cfg = config([...users, { name: 'alice-batch', token: 'alice-batch-token-0123', account: 'alice' }]);
    expect(callerOf(cfg, asNode('alice')).name).to.equal('alice');
  });

  it('makes root an administrator: the admin whose account it is, or a built-in root', () => {
    expect(callerOf(config(users), asNode('root'))).to.deep.equal({ name: 'ops', admin: true });
    expect(callerOf(config(users.slice(0, 2)), asNode('root'))).to.deep.equal({ name: 'root', admin: true });
    // a person whose own account is root is an administrator on a node, whatever their token says
    const person = config([{ name: 'root', token: TOKENS.alice }, users[2]!]);
    expect(callerOf(person, asNode('root'))).to.deep.equal({ name: 'root', admin: true });
  });

  it('refuses an account with no user, saying so', () => {
    const e = refusal(config(users), asNode('mallory'));
    expect(e.message).to.contain("the Unix account 'mallory' on node0 has no godwit user");
    expect(e.details).to.deep.equal({ account: 'mallory', node: 'node0' });
  });

  it("never gives root the built-in administrator where a user named root runs as another account", () => {
    const e = refusal(config([{ name: 'root', token: TOKENS.alice, account: 'ops' }]), asNode('root'));
    expect(e.message).to.contain("'root' on node0 has no godwit user");
  });

  it("ignores an account beside a user's token: the token says who", () => {
    expect(callerOf(config(users), { authorization: `Bearer ${TOKENS.alice}`, [ACCOUNT_HEADER]: 'root' })).to.deep.equal({ name: 'alice', admin: false });
  });

  it("refuses a node's token without an account, or with something that is no account name", () => {
    expect(refusal(config(users), { authorization: `Bearer ${NODE_TOKEN}` }).message).to.contain(`node node0's token calls the API only for a local user, named in ${ACCOUNT_HEADER}`);
    expect(refusal(config(users), asNode('../alice')).message).to.contain('which is no account name');
  });

  it('refuses a bad token with an account as any other bad token', () => {
    expect(refusal(config(users), { authorization: 'Bearer not-a-token-at-all', [ACCOUNT_HEADER]: 'root' }).message).to.contain('invalid bearer token');
    expect(refusal(config(users), { [ACCOUNT_HEADER]: 'root' }).message).to.contain('missing "Authorization: Bearer <token>"');
  });

  describe('through the API', function () {
    let c: Cluster;
    before(async () => {
      c = await startCluster({ nodes: 1 });
    });
    after(async () => {
      await c.close();
    });
    const get = (url: string, headers: Record<string, string>) => c.app.inject({ method: 'GET', url, headers });

    it('answers GET /v1/whoami for a token and for a node vouching', async () => {
      const byToken = await get('/v1/whoami', { authorization: `Bearer ${TOKENS.bob}` });
      expect(byToken.json()).to.deep.equal({ user: 'bob', admin: false, account: 'bob-unix' });
      const byNode = await get('/v1/whoami', asNode('bob-unix'));
      expect(byNode.statusCode, byNode.body).to.equal(200);
      expect(byNode.json()).to.deep.equal({ user: 'bob', admin: false, account: 'bob-unix' });
      const root = await get('/v1/whoami', asNode('root'));
      expect(root.json()).to.deep.equal({ user: 'root', admin: true, account: 'root' });
    });

    it("lists the vouched user's processes, and refuses an account with no user with 401", async () => {
      const list = await get('/v1/processes', asNode('alice'));
      expect(list.statusCode, list.body).to.equal(200);
      const unknown = await get('/v1/processes', asNode('mallory'));
      expect(unknown.statusCode).to.equal(401);
      expect(unknown.json()).to.include({ code: 'GODWIT_ERR_UNAUTHORIZED' });
      expect(unknown.json().message).to.contain("'mallory' on node0 has no godwit user");
    });
  });
});
