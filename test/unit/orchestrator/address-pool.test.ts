/** Programs' own addresses (mosrun --ip, orchestrator/src/address-pool.ts): the pool through the API, with fake agents. */
import { expect } from 'chai';
import type { ApiErrorBody, Process } from '@godwit/schemas';
import { addressRangeProblems, ipv4ToNumber, numberToIpv4 } from '../../../orchestrator/src/address-pool.js';
import { checkConfig } from '../../../orchestrator/src/config.js';
import { type Cluster, startCluster, waitFor } from './harness.js';

const POOL = { first: '10.9.0.200', last: '10.9.0.202', prefixLength: 24, gateway: '10.9.0.1' };

describe('address pool: the range', () => {
  it('reads and writes dotted addresses', () => {
    expect(ipv4ToNumber('10.9.0.200')).to.equal(10 * 2 ** 24 + 9 * 2 ** 16 + 200);
    expect(numberToIpv4(ipv4ToNumber('192.168.255.1'))).to.equal('192.168.255.1');
  });

  it('refuses a range that is reversed, spans networks, or holds a node or the gateway', () => {
    expect(addressRangeProblems(POOL, ['10.9.0.10'])).to.deep.equal([]);
    expect(addressRangeProblems({ ...POOL, first: '10.9.0.203' }, [])[0]).to.match(/last \(10\.9\.0\.202\) comes before first/);
    expect(addressRangeProblems({ ...POOL, last: '10.9.1.2' }, [])[0]).to.match(/not in one \/24 network/);
    expect(addressRangeProblems(POOL, ['10.9.0.201'])[0]).to.match(/holds 10\.9\.0\.201, a node's own address/);
    expect(addressRangeProblems({ ...POOL, gateway: '10.9.0.200' }, [])[0]).to.match(/holds the gateway/);
    expect(() => checkConfig({
      listen: { host: '127.0.0.1', port: 0 }, tls: false, dataDir: '/x', users: [],
      nodes: [{ name: 'node0', url: 'http://10.9.0.201:7701', token: 'node0-token-0123456789' }], checkpointDir: '/x/c', addresses: POOL,
    })).to.throw(/holds 10\.9\.0\.201, a node's own address/);
  });
});

describe('address pool through the API', () => {
  let c: Cluster;
  afterEach(async () => c?.close());

  const start = (user: 'alice' | 'bob', body: object = {}) => c.req(user, 'POST', '/v1/processes', { argv: ['prog'], cwd: '/', node: 'node0', ip: true, ...body });
  const live = async () => ((await c.req('root', 'GET', '/v1/processes?all=true')).json as Process[]).length;

  it('gives each live program its own address, refuses when none is free with nothing recorded, and gives one back when its program ends, also after a restart', async () => {
    c = await startCluster({ addresses: POOL });
    const started = [await start('alice'), await start('bob'), await start('alice')].map((r) => r.json as Process);
    expect(started.map((p) => p.address)).to.deep.equal(['10.9.0.200', '10.9.0.201', '10.9.0.202']);
    expect(c.agent('node0').current(started[1]!.id)!.launch!.net).to.deep.equal({ address: '10.9.0.201', prefixLength: 24, gateway: '10.9.0.1' });

    const before = await live();
    const refused = await start('bob');
    expect(refused.status, refused.body).to.equal(409);
    expect((refused.json as ApiErrorBody).code).to.equal('GODWIT_ERR_NO_ADDRESS');
    expect((refused.json as ApiErrorBody).message).to.match(/every address of the pool \(10\.9\.0\.200 to 10\.9\.0\.202\) is held/);
    expect(await live(), 'no process recorded for the refused start').to.equal(before);

    // bob cannot end alice's program, nor so free its address
    expect((await c.req('bob', 'POST', `/v1/processes/${started[0]!.id}/signal`, { signal: 'SIGKILL' })).status).to.equal(404);
    expect((await start('bob')).status).to.equal(409);

    await c.restart();
    expect((await start('bob')).status, 'the pool as it was after a restart').to.equal(409);
    c.agent('node0').exit(started[1]!.id, 0);
    await waitFor(async () => (await c.req('bob', 'GET', `/v1/processes/${started[1]!.id}`)).json.state === 'exited', 'bob\'s program to end');
    const again = await start('alice');
    expect(again.status, again.body).to.equal(201);
    expect((again.json as Process).address, 'the address its program gave back').to.equal('10.9.0.201');
    expect((await c.req('alice', 'GET', `/v1/processes/${started[1]!.id}`)).status).to.equal(404);
  });

  it('says what to do where the cluster has no pool, and a plain start gets no address', async () => {
    c = await startCluster();
    const refused = await start('alice');
    expect(refused.status).to.equal(409);
    expect((refused.json as ApiErrorBody).message).to.match(/no address pool for --ip: an administrator sets \/addresses/);
    const plain = await start('alice', { ip: false });
    expect(plain.status, plain.body).to.equal(201);
    expect((plain.json as Process).address).to.equal(null);
  });

  it('refuses to move, freeze or checkpoint a program with its own address before anything stops', async () => {
    c = await startCluster({ addresses: POOL });
    const p = (await start('alice')).json as Process;
    for (const [url, body] of [[`/v1/processes/${p.id}/migrate`, { to: 'node1' }], [`/v1/processes/${p.id}/freeze`, undefined], [`/v1/processes/${p.id}/checkpoint`, { then: 'run' }]] as const) {
      const r = await c.req('alice', 'POST', url, body);
      expect(r.status, `${url}: ${r.body}`).to.equal(409);
      expect((r.json as ApiErrorBody).code).to.equal('GODWIT_ERR_ADDRESS_CANNOT_MOVE');
      expect((r.json as ApiErrorBody).message).to.include(`its own address 10.9.0.200 (mosrun --ip)`);
    }
    expect(c.agents.flatMap((a) => a.calls).filter((call) => /dump|checkpoint|inspect/.test(call)), 'no agent was asked to stop it').to.deep.equal([]);
    expect((await c.req('alice', 'GET', `/v1/processes/${p.id}`)).json).to.include({ state: 'running', node: 'node0', nmigs: 0 });
  });
});
