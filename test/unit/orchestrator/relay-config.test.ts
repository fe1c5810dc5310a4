import { expect } from 'chai';
import { checkConfig, ConfigError } from '../../../orchestrator/src/config.js';
import { type Cluster, decodeOutput, startCluster, waitFor } from './harness.js';

describe('orchestrator configuration', () => {
  const good = {
    listen: { host: '127.0.0.1', port: 7000 },
    tls: false,
    dataDir: '/var/lib/godwit',
    checkpointDir: '/srv/godwit/checkpoints',
    users: [{ name: 'alice', token: 'alice-token-0123456789' }],
    nodes: [{ name: 'node0', url: 'http://10.0.0.1:7001', token: 'node0-token-0123456789' }],
  };

  it('fills defaults and freezes', () => {
    const c = checkConfig(good);
    expect(c.nodeTimeoutMs).to.equal(5000);
    expect(c.outputLimitBytes).to.equal(8 * 1024 * 1024);
    expect(c.nodeLostMs).to.equal(30_000);
    expect(Object.isFrozen(c) && Object.isFrozen(c.nodes[0])).to.equal(true);
  });

  it('names each bad field', () => {
    expect(() => checkConfig({ ...good, dataDir: 'relative', users: [{ name: 'a', token: 'short' }] }))
      .to.throw(ConfigError)
      .with.property('message')
      .that.contains('/dataDir')
      .and.contains('/users/0/token');
    expect(() => checkConfig({ ...good, nodes: [good.nodes[0], good.nodes[0]] })).to.throw(/node node0 is listed twice/);
  });
});

describe('orchestrator output relay', () => {
  let c: Cluster;
  beforeEach(async () => {
    c = await startCluster({ nodes: 1 });
  });
  afterEach(async () => {
    await c.close();
  });

  it('retries an agent that cannot serve output, and resumes where it was', async () => {
    const id = (await c.req('alice', 'POST', '/v1/processes', { argv: ['/bin/p'], cwd: '/' })).json.id;
    const a = c.agent('node0');
    a.write(id, 'o', 'one\n');
    const text = async () => decodeOutput((await c.req('alice', 'GET', `/v1/processes/${id}/output`)).body).text;
    await waitFor(async () => (await text()) === 'one\n', 'first output', 5000, text);
    // the agent dies and comes back: its output route fails a while
    a.fail.output = { code: 'GODWIT_ERR_INTERNAL', message: 'restarting' };
    const outputCalls = () => a.calls.filter((x) => x.includes('/output')).length;
    const before = outputCalls();
    a.cutOutput();
    a.write(id, 'o', 'two\n');
    await waitFor(() => outputCalls() >= before + 2, 'the relay to retry', 5000, () => a.calls.slice(-3));
    expect(await text()).to.equal('one\n');
    a.fail.output = undefined;
    await waitFor(async () => (await text()) === 'one\ntwo\n', 'output after the agent came back', 5000, text);
    a.exit(id, 0);
    const out = decodeOutput((await c.req('alice', 'GET', `/v1/processes/${id}/output?follow=true`)).body);
    expect(out.text).to.equal('one\ntwo\n');
    expect(out.exit).to.deep.equal({ code: 0, signal: null });
  });
});
