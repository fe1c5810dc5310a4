import { expect } from 'chai';
import { ERROR_CODES } from '@godwit/schemas';
import { type Cluster, decodeOutput, startCluster, TOKENS, waitFor } from './harness.js';

const RUN = { argv: ['/bin/prog', 'x'], cwd: '/tmp' };

describe('orchestrator API', function () {
  let c: Cluster;
  beforeEach(async () => {
    c = await startCluster({ nodes: 3 });
  });
  afterEach(async () => {
    await c.close();
  });

  it('answers 401 in the error shape without a token or with a bad one', async () => {
    const none = await c.app.inject({ method: 'GET', url: '/v1/processes' });
    expect(none.statusCode).to.equal(401);
    expect(none.json()).to.include({ statusCode: 401, code: 'GODWIT_ERR_UNAUTHORIZED', error: 'Unauthorized' });
    expect(none.json().message).to.be.a('string');
    const bad = await c.app.inject({ method: 'GET', url: '/v1/nodes', headers: { authorization: 'Bearer nope-nope-nope-nope' } });
    expect(bad.statusCode).to.equal(401);
    expect(bad.json().code).to.equal('GODWIT_ERR_UNAUTHORIZED');
    expect(bad.body).to.not.match(/at .*\.ts:\d+/);
  });

  it('rejects agents with unknown tokens on the websocket', async () => {
    const res = await c.app.inject({ method: 'GET', url: '/v1/agents/ws', headers: { authorization: `Bearer ${TOKENS.alice}` } });
    expect(res.statusCode).to.equal(401);
  });

  it('says which field is wrong, and that a route is unknown', async () => {
    const bad = await c.req('alice', 'POST', '/v1/processes', { argv: [], cwd: '/tmp' });
    expect(bad.status).to.equal(400);
    expect(bad.json.code).to.equal('GODWIT_ERR_BAD_REQUEST');
    expect(bad.json.message).to.contain('argv');
    const nf = await c.req('alice', 'GET', '/v1/nothing');
    expect(nf.status).to.equal(404);
    expect(nf.json.code).to.equal('GODWIT_ERR_NOT_FOUND');
  });

  it('serves the OpenAPI description', async () => {
    const res = await c.app.inject({ method: 'GET', url: '/v1/openapi.json' });
    expect(res.statusCode).to.equal(200);
    const doc = res.json();
    expect(doc.openapi).to.match(/^3\./);
    expect(doc.paths).to.have.property('/v1/processes');
    expect(doc.paths).to.have.property('/v1/processes/{id}/migrate');
    // a client can learn every error code it may be given from the document alone
    const text = JSON.stringify(doc);
    for (const code of ERROR_CODES) expect(text, code).to.contain(`"${code}"`);
  });

  it('lists the nodes, online, with features and load', async () => {
    const res = await c.req('alice', 'GET', '/v1/nodes');
    expect(res.status).to.equal(200);
    expect(res.json.map((n: any) => n.name)).to.deep.equal(['node0', 'node1', 'node2']);
    expect(res.json.every((n: any) => n.state === 'online' && n.features.criuVersion === '4.0')).to.equal(true);
    await waitFor(async () => (await c.req('alice', 'GET', '/v1/nodes')).json.every((n: any) => n.load), 'loads reported');
  });

  it('shows users only their own processes; an admin sees all', async () => {
    const run = await c.req('alice', 'POST', '/v1/processes', RUN);
    expect(run.status, run.body).to.equal(201);
    const id = run.json.id;
    expect(run.json).to.include({ owner: 'alice', node: 'node0', homeNode: 'node0', state: 'running', nmigs: 0 });
    expect((await c.req('bob', 'GET', `/v1/processes/${id}`)).json.code).to.equal('GODWIT_ERR_PROCESS_NOT_FOUND');
    expect((await c.req('bob', 'GET', '/v1/processes')).json).to.deep.equal([]);
    expect((await c.req('bob', 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGTERM' })).status).to.equal(404);
    expect((await c.req('bob', 'GET', `/v1/events?process=${id}`)).status).to.equal(404);
    expect((await c.req('root', 'GET', '/v1/processes?all=true')).json.map((p: any) => p.id)).to.deep.equal([id]);
    expect((await c.req('alice', 'GET', '/v1/processes')).json.map((p: any) => p.id)).to.deep.equal([id]);
    // the home PID finds it too
    const byPid = await c.req('alice', 'GET', `/v1/processes/${run.json.origPid}`);
    expect(byPid.json.id).to.equal(id);
  });

  it('starts on the node asked for as its owner\'s account, with the environment asked for, and lists known nodes for an unknown one', async () => {
    const run = await c.req('alice', 'POST', '/v1/processes', { ...RUN, env: { A: '1' }, homeNode: 'node2' });
    expect(run.json).to.include({ node: 'node2', homeNode: 'node2' });
    expect(c.agent('node2').current(run.json.id)!.launch!.env).to.deep.equal({ A: '1' });
    expect(c.agent('node2').current(run.json.id)!.launch!.account).to.equal('alice');
    const bobs = await c.req('bob', 'POST', '/v1/processes', { ...RUN, homeNode: 'node2' });
    expect(c.agent('node2').current(bobs.json.id)!.launch!.account, 'the account configured for bob').to.equal('bob-unix');
    const run2 = await c.req('alice', 'POST', '/v1/processes', { ...RUN, homeNode: 'node2', node: 'node1' });
    expect(run2.json).to.include({ node: 'node1', homeNode: 'node2' });
    const bad = await c.req('alice', 'POST', '/v1/processes', { ...RUN, node: 'node9' });
    expect(bad.status).to.equal(404);
    expect(bad.json.code).to.equal('GODWIT_ERR_NODE_NOT_FOUND');
    expect(bad.json.message).to.contain('node0, node1, node2');
    expect(bad.json.details.nodes).to.deep.equal(['node0', 'node1', 'node2']);
  });

  it('refuses LD_* and GODWIT_* variables by name, starting nothing', async () => {
    const before = (await c.req('alice', 'GET', '/v1/processes')).json.length;
    const run = await c.req('alice', 'POST', '/v1/processes', { ...RUN, env: { LD_PRELOAD: '/tmp/x.so', GODWIT_CONTROL: '/etc', OK: '1' } });
    expect(run.status, JSON.stringify(run.json)).to.equal(400);
    expect(run.json.message).to.contain('LD_PRELOAD').and.to.contain('GODWIT_CONTROL').and.not.to.contain('OK');
    expect((await c.req('alice', 'GET', '/v1/processes')).json.length, 'processes after the refusal').to.equal(before);
  });

  it('records a process whose launch failed as failed, with the reason, and returns the agent error', async () => {
    c.agent('node0').fail.launch = { code: 'GODWIT_ERR_LAUNCH_FAILED', message: 'cannot execute /bin/prog: No such file' };
    const run = await c.req('alice', 'POST', '/v1/processes', RUN);
    expect(run.status).to.equal(422);
    expect(run.json).to.include({ code: 'GODWIT_ERR_LAUNCH_FAILED', message: 'cannot execute /bin/prog: No such file' });
    const p = (await c.req('alice', 'GET', `/v1/processes/${run.json.details.processId}`)).json;
    expect(p).to.include({ state: 'failed', exitCode: null, failure: 'cannot execute /bin/prog: No such file' });
    expect(p.endedAt, 'its end').to.be.a('number');
  });

  it('relays stdout and stderr in order with the exit line, and resumes from an offset', async () => {
    const run = await c.req('alice', 'POST', '/v1/processes', RUN);
    const id = run.json.id;
    const a = c.agent('node0');
    a.write(id, 'o', 'hello\n');
    a.write(id, 'e', 'oops\n');
    a.write(id, 'o', 'bye\n');
    a.exit(id, 3);
    const out = await c.req('alice', 'GET', `/v1/processes/${id}/output?follow=true`);
    expect(out.status).to.equal(200);
    const d = decodeOutput(out.body);
    expect(d.text).to.equal('hello\noops\nbye\n');
    expect(d.lines.slice(0, 3).map((l) => [l.offset, l.stream])).to.deep.equal([[0, 'stdout'], [6, 'stderr'], [11, 'stdout']]);
    expect(d.exit).to.deep.equal({ code: 3, signal: null });
    const later = decodeOutput((await c.req('alice', 'GET', `/v1/processes/${id}/output?offset=8`)).body);
    expect(later.text).to.equal('ps\nbye\n');
    expect(later.lines[0].offset).to.equal(8);
    const p = (await c.req('alice', 'GET', `/v1/processes/${id}`)).json;
    expect(p).to.include({ state: 'exited', exitCode: 3, exitSignal: null });
    await waitFor(() => a.epochs.size === 0, 'the exited epoch deleted at the agent', 5000, () => [...a.epochs.keys()]);
    const events = (await c.req('alice', 'GET', `/v1/events?process=${id}`)).json.map((e: any) => e.kind);
    expect(events).to.deep.equal(['started', 'exited']);
  });

  it('forwards stdin and signals to where the process runs', async () => {
    const id = (await c.req('alice', 'POST', '/v1/processes', RUN)).json.id;
    const res = await c.stdin('alice', id, Buffer.from('input\n'), true);
    expect(res.status, res.body).to.equal(204);
    const e = c.agent('node0').current(id)!;
    expect(Buffer.concat(e.stdin).toString()).to.equal('input\n');
    expect(e.eof).to.equal(true);
    const sig = await c.req('alice', 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
    expect(sig.status).to.equal(204);
    await waitFor(async () => (await c.req('alice', 'GET', `/v1/processes/${id}`)).json.state === 'exited', 'exited after SIGKILL');
    expect((await c.req('alice', 'GET', `/v1/processes/${id}`)).json.exitSignal).to.equal('SIGKILL');
  });

  it('refuses to start on an offline node', async () => {
    await c.agent('node1').disconnect();
    await waitFor(async () => (await c.req('alice', 'GET', '/v1/nodes')).json[1].state === 'offline', 'node1 offline');
    const run = await c.req('alice', 'POST', '/v1/processes', { ...RUN, node: 'node1' });
    expect(run.status).to.equal(409);
    expect(run.json.code).to.equal('GODWIT_ERR_NODE_OFFLINE');
  });

  it('serves output over a real connection as it comes', async () => {
    const id = (await c.req('alice', 'POST', '/v1/processes', RUN)).json.id;
    const res = await fetch(`${c.url}/v1/processes/${id}/output?follow=true`, {
      headers: { authorization: `Bearer ${TOKENS.alice}` },
    });
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.contain('application/x-ndjson');
    const reader = res.body!.getReader();
    let got = '';
    const a = c.agent('node0');
    a.write(id, 'o', 'first\n');
    while (!got.includes('\n')) got += Buffer.from((await reader.read()).value!).toString();
    expect(decodeOutput(got).text).to.equal('first\n');
    a.write(id, 'o', 'second\n');
    a.exit(id, 0);
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      got += Buffer.from(r.value).toString();
    }
    const d = decodeOutput(got);
    expect(d.text).to.equal('first\nsecond\n');
    expect(d.exit).to.deep.equal({ code: 0, signal: null });
  });

  it('keeps a bounded log and serves from the oldest kept offset', async () => {
    await c.close();
    c = await startCluster({ nodes: 2, outputLimitBytes: 64 });
    const id = (await c.req('alice', 'POST', '/v1/processes', RUN)).json.id;
    const a = c.agent('node0');
    let all = '';
    for (let i = 0; i < 20; i++) {
      const line = `line ${String(i).padStart(2, '0')}\n`;
      all += line;
      a.write(id, 'o', line);
    }
    a.exit(id, 0);
    // a follower reading while the output arrives gets all of it: read once all of it is kept
    await waitFor(async () => (await c.req('alice', 'GET', `/v1/processes/${id}`)).json.state === 'exited', 'the exit relayed');
    const d = decodeOutput((await c.req('alice', 'GET', `/v1/processes/${id}/output?follow=true`)).body);
    expect(d.exit).to.deep.equal({ code: 0, signal: null });
    expect(d.text.length).to.be.lessThan(all.length);
    expect(all.endsWith(d.text), d.text).to.equal(true);
    expect(d.lines[0].offset).to.equal(all.length - d.text.length);
  });
});
