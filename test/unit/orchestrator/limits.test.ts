import { once } from 'node:events';
import { expect } from 'chai';
import WebSocket from 'ws';
import type { ApiErrorBody, LimitsReport, Process } from '@godwit/schemas';
import { pruneEvents } from '../../../orchestrator/src/event-pruning.js';
import { checkpointRoom, requireProcessRoom } from '../../../orchestrator/src/limits.js';
import { CHECKPOINT_BYTES } from './fake-agent-checkpoint-routes.js';
import { type Cluster, startCluster, TOKENS, waitFor } from './harness.js';

describe('limits: the decisions', () => {
  it("gives a checkpoint what the quota leaves, plus the recycled file it replaces", () => {
    expect(checkpointRoom(100, 60, 0)).to.equal(40);
    expect(checkpointRoom(100, 100, 30)).to.equal(30);
    expect(checkpointRoom(100, 120, 0)).to.be.at.most(0);
  });

  it('refuses a start only once the live processes reach the limit, naming use and limit', () => {
    expect(() => requireProcessRoom('alice', 2, 3)).not.to.throw();
    expect(() => requireProcessRoom('alice', 3, 3)).to.throw(/alice has 3 live processes .* the most a user may have \(3\): nothing was started/);
  });
});

describe('limits through the API', () => {
  let c: Cluster;
  afterEach(async () => c?.close());

  const start = (user: 'alice' | 'bob', body: object = {}) => c.req(user, 'POST', '/v1/processes', { argv: ['prog'], cwd: '/', node: 'node0', ...body });
  const checkpoint = (id: number) => c.req('alice', 'POST', `/v1/processes/${id}/checkpoint`, { then: 'run' });
  const agentCheckpoints = () => c.agents.flatMap((a) => a.calls).filter((call) => call.endsWith('/checkpoint'));

  it('refuses a checkpoint past the quota, keeps every earlier one, and the program runs on', async () => {
    c = await startCluster({ limits: { checkpointBytesPerUser: 2 * CHECKPOINT_BYTES + 100 } });
    const id = ((await start('alice')).json as Process).id;
    for (const n of [1, 2]) expect((await checkpoint(id)).status, `checkpoint ${n}`).to.equal(200);
    const refused = await checkpoint(id);
    expect(refused.status, refused.body).to.equal(507);
    const body = refused.json as ApiErrorBody;
    expect(body.code).to.equal('GODWIT_ERR_CHECKPOINT_QUOTA');
    expect(body.message).to.match(/alice's checkpoints use 16384 bytes of a quota of 16484 bytes and it needs 8192 bytes; the process runs on/);
    expect([...c.agent('node0').checkpointFiles.keys()], 'both earlier files kept').to.have.length(2);
    expect((await c.req('alice', 'GET', `/v1/processes/${id}`)).json.state).to.equal('running');
    expect((await c.req('alice', 'GET', `/v1/processes/${id}/checkpoints`)).json, 'none recorded for the refused one').to.have.length(2);
  });

  const kindsOf = (id: number) => async () => ((await c.req('alice', 'GET', `/v1/events?process=${id}`)).json as { kind: string }[]).map((e) => e.kind);

  it('refuses without asking the agent when nothing is left, automatic (-A) checkpoints as well', async () => {
    c = await startCluster({ limits: { checkpointBytesPerUser: CHECKPOINT_BYTES } });
    const id = ((await start('alice', { checkpoint: { file: 'auto', everyMinutes: 1 / 60 } })).json as Process).id;
    const kinds = kindsOf(id);
    await waitFor(async () => (await kinds()).includes('auto-checkpoints-paused'), 'automatic checkpoints paused', 30_000, kinds);
    expect((await kinds()).filter((k) => k === 'checkpoint'), 'the first, within the quota').to.have.length(1);
    expect(agentCheckpoints(), 'no dump for a checkpoint with no room').to.have.length(1);
    expect((await checkpoint(id)).json.code, 'by hand too').to.equal('GODWIT_ERR_CHECKPOINT_QUOTA');
    expect(agentCheckpoints()).to.have.length(1);
    expect((await c.req('alice', 'GET', `/v1/processes/${id}`)).json.state).to.equal('running');
  });

  it('pauses automatic checkpoints that would not fit, without a dump, says so once, and resumes when the quota has room', async function () {
    this.timeout(90_000);
    // room for half a checkpoint after the first: the last one's size says the next will not fit
    c = await startCluster({ limits: { checkpointBytesPerUser: CHECKPOINT_BYTES + CHECKPOINT_BYTES / 2 } });
    const id = ((await start('alice', { checkpoint: { file: 'auto', everyMinutes: 1 / 120 } })).json as Process).id;
    const kinds = kindsOf(id);
    const proc = async () => (await c.req('alice', 'GET', `/v1/processes/${id}`)).json as Process;
    await waitFor(async () => (await kinds()).includes('auto-checkpoints-paused'), 'automatic checkpoints paused', 30_000, kinds);
    const pausedAt = Date.now();
    // four intervals more: no dump, no refusal and no second word of it
    await waitFor(async () => Date.now() - pausedAt > 2000, 'four intervals to pass', 5000);
    expect(agentCheckpoints(), 'the one that fitted, and no dump since').to.have.length(1);
    expect((await kinds()).filter((k) => k !== 'started' && k !== 'checkpoint'), 'told once, nothing refused').to.deep.equal(['auto-checkpoints-paused']);
    expect((await proc()).autoCheckpointsPaused).to.match(/^alice's checkpoints use 8192 bytes of a quota of 12288 bytes and the next would need about 8192 bytes: none is dumped until it fits/);
    const use = ((await c.req('alice', 'GET', '/v1/limits')).json as LimitsReport).use[0]!;
    expect(use.autoCheckpointsPaused.map((p) => p.processId)).to.deep.equal([id]);
    expect((await proc()).state).to.equal('running');

    // an administrator raises the quota and restarts the orchestrator
    c.config = { ...c.config, limits: { ...c.config.limits, checkpointBytesPerUser: 4 * CHECKPOINT_BYTES } };
    await c.restart();
    await waitFor(async () => (await kinds()).includes('auto-checkpoints-resumed'), 'automatic checkpoints resumed', 30_000, kinds);
    expect((await proc()).autoCheckpointsPaused).to.equal(null);
    expect((await proc()).checkpoints).to.be.at.least(2);
    expect(((await c.req('alice', 'GET', '/v1/limits')).json as LimitsReport).use[0]!.autoCheckpointsPaused).to.deep.equal([]);
  });

  it('pauses after one dump the agent refused when nothing told its size, and dumps no more', async function () {
    this.timeout(90_000);
    // no checkpoint yet: the first dump tells the size, and it does not fit
    c = await startCluster({ limits: { checkpointBytesPerUser: CHECKPOINT_BYTES / 2 } });
    const id = ((await start('alice', { checkpoint: { file: 'auto', everyMinutes: 1 / 120 } })).json as Process).id;
    const kinds = kindsOf(id);
    await waitFor(async () => (await kinds()).includes('auto-checkpoints-paused'), 'automatic checkpoints paused', 30_000, kinds);
    const pausedAt = Date.now();
    await waitFor(async () => Date.now() - pausedAt > 2000, 'four intervals to pass', 5000);
    expect(agentCheckpoints(), 'the one dump that told the size').to.have.length(1);
    expect((await kinds()).filter((k) => k.startsWith('checkpoint') || k.startsWith('auto-'))).to.deep.equal(['checkpoint-refused', 'auto-checkpoints-paused']);
  });

  it('lets a recycled -N name replace its old file within the quota', async () => {
    c = await startCluster({ limits: { checkpointBytesPerUser: 2 * CHECKPOINT_BYTES + 100 } });
    const id = ((await start('alice', { checkpoint: { file: 'job', max: 2 } })).json as Process).id;
    for (const n of [1, 2, 3, 4]) expect((await checkpoint(id)).status, `checkpoint ${n}`).to.equal(200);
    expect((await c.req('alice', 'GET', '/v1/limits')).json.use[0]).to.include({ checkpointBytes: 2 * CHECKPOINT_BYTES, checkpoints: 2 });
  });

  it("refuses a start past the live process limit, making nothing, and counts each user's own", async () => {
    c = await startCluster({ limits: { liveProcessesPerUser: 2 } });
    for (const n of [1, 2]) expect((await start('alice')).status, `start ${n}`).to.equal(201);
    const before = c.app.godwit.ctx.db.q.allProcesses.all().length;
    const refused = await start('alice');
    expect(refused.status, refused.body).to.equal(429);
    expect(refused.json).to.include({ code: 'GODWIT_ERR_PROCESS_LIMIT', error: 'Too Many Requests' });
    expect(refused.json.message).to.contain('alice has 2 live processes');
    expect(c.app.godwit.ctx.db.q.allProcesses.all(), 'no row made').to.have.length(before);
    expect(c.agents.flatMap((a) => a.calls).filter((call) => call === 'POST /v1/procs'), 'no launch').to.have.length(2);
    expect((await start('bob')).status, "bob's own count").to.equal(201);
  });

  it('answers 429 RATE_LIMITED in the one error shape, per caller', async () => {
    c = await startCluster({ limits: { requestsPerMinute: 5 } });
    for (let i = 0; i < 5; i++) expect((await c.req('bob', 'GET', '/v1/whoami')).status).to.equal(200);
    const limited = await c.req('bob', 'GET', '/v1/whoami');
    expect(limited.status, limited.body).to.equal(429);
    expect(limited.json).to.include({ statusCode: 429, code: 'GODWIT_ERR_RATE_LIMITED', error: 'Too Many Requests' });
    expect(limited.json.message).to.match(/at most 5 a minute per caller; try again in \d+ s/);
    expect((await c.req('alice', 'GET', '/v1/whoami')).status, "another caller's own count").to.equal(200);
  });

  it('refuses a body past bodyBytes with TOO_LARGE in the one shape', async () => {
    c = await startCluster({ limits: { bodyBytes: 2048 } });
    const res = await start('alice', { argv: ['prog', 'x'.repeat(4096)] });
    expect(res.status, res.body).to.equal(413);
    expect(res.json).to.include({ code: 'GODWIT_ERR_TOO_LARGE', error: 'Payload Too Large' });
    expect(c.app.godwit.ctx.db.q.allProcesses.all()).to.have.length(0);
  });

  it('closes a websocket whose message passes frameBytes', async () => {
    c = await startCluster({ limits: { frameBytes: 2048 }, connect: false });
    const ws = new WebSocket(`${c.url.replace(/^http/, 'ws')}/v1/agents/ws`, { headers: { authorization: `Bearer ${c.agents[0]!.token}` } });
    await once(ws, 'open');
    ws.send('x'.repeat(4096));
    const [code] = (await once(ws, 'close')) as [number];
    expect(code, 'closed as too large').to.equal(1009);
  });

  it("shows a user only their own use, an administrator everyone's", async () => {
    c = await startCluster({ limits: { liveProcessesPerUser: 7 } });
    await start('alice');
    await start('bob');
    const mine = (await c.req('bob', 'GET', '/v1/limits')).json as LimitsReport;
    expect(mine.limits.liveProcessesPerUser).to.equal(7);
    expect(mine.use, 'bob sees no one else').to.deep.equal([{ user: 'bob', checkpointBytes: 0, checkpoints: 0, liveProcesses: 1, autoCheckpointsPaused: [] }]);
    const all = (await c.req('root', 'GET', '/v1/limits')).json as LimitsReport;
    expect(all.use.map((u) => `${u.user}:${u.liveProcesses}`)).to.deep.equal(['alice:1', 'bob:1', 'root:0']);
    const stranger = await c.app.inject({ method: 'GET', url: '/v1/limits', headers: { authorization: `Bearer ${TOKENS.alice}x` } });
    expect(stranger.statusCode, stranger.body).to.equal(401);
  });

  it('prunes events past the days or the count kept', async () => {
    c = await startCluster();
    const db = c.app.godwit.ctx.db;
    const now = Date.now();
    db.raw.prepare('DELETE FROM events').run();
    for (let i = 0; i < 10; i++) db.q.insertEvent.run({ at: now - (10 - i) * 86_400_000, process_id: null, node: null, kind: 'test', message: `event ${i}` });
    expect(pruneEvents(db, { eventsKeepDays: 5.5, eventsKeepCount: 100 }, now), 'older than 5.5 days').to.equal(5);
    expect(pruneEvents(db, { eventsKeepDays: 30, eventsKeepCount: 2 }, now), 'beyond the newest 2').to.equal(3);
    expect(db.raw.prepare('SELECT message FROM events ORDER BY id').all()).to.deep.equal([{ message: 'event 8' }, { message: 'event 9' }]);
  });
});
