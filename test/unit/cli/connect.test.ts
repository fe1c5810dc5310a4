import http from 'node:http';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { connect } from '../../../cli/src/client.js';
import { DEFAULT_AGENT_SOCKET } from '../../../cli/src/paths.js';

describe('cli: which way connect() goes', function () {
  let dir: string;
  let socket: string;
  let agent: http.Server;
  const tokenConfig = { url: 'http://127.0.0.1:1', token: 'a-token-0123456789', user: 'alice', homeNode: 'node1' };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'godwit-connect-'));
    socket = join(dir, 'agent.sock');
    writeFileSync(join(dir, 'cluster.json'), JSON.stringify(tokenConfig));
    agent = http.createServer((req, res) => {
      if (req.url === '/v1/local/whoami') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ user: 'bob', admin: false, account: 'bob', node: 'node4' }));
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => agent.listen(socket, r));
  });
  after(async () => {
    agent.closeAllConnections();
    await new Promise((r) => agent.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it("takes the agent's socket, asking it who the caller is and which node", async () => {
    const client = await connect({ GODWIT_AGENT_SOCKET: socket, GODWIT_HOME: join(dir, 'none') });
    expect(client.config).to.deep.equal({ socket, user: 'bob', homeNode: 'node4' });
    expect(client.where).to.equal(`the agent's socket ${socket}`);
  });

  it('prefers $GODWIT_CONFIG to the socket, and $GODWIT_AGENT_SOCKET to the configuration in GODWIT_HOME', async () => {
    expect((await connect({ GODWIT_CONFIG: join(dir, 'cluster.json'), GODWIT_AGENT_SOCKET: socket })).config).to.deep.equal(tokenConfig);
    expect((await connect({ GODWIT_HOME: dir, GODWIT_AGENT_SOCKET: socket })).config).to.deep.include({ socket });
    expect((await connect({ GODWIT_HOME: dir })).config).to.deep.equal(tokenConfig);
  });

  it('names the configuration file and the socket when it has neither', async function () {
    if (existsSync(DEFAULT_AGENT_SOCKET)) this.skip();
    const err = await connect({ GODWIT_HOME: join(dir, 'none') }).then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).to.equal(`no cluster configured: run \`npm start\` or \`godwit cluster up\` (no ${join(dir, 'none', 'cluster.json')}, and no agent socket at ${DEFAULT_AGENT_SOCKET})`);
  });
});
