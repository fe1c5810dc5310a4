/**
 * Limits an administrator sets in the orchestrator's configuration, on the suite's cluster with
 * tiny ones for this file: a checkpoint past the quota is refused and the last good one kept, a
 * start past the live process limit makes nothing, a caller past the rate gets 429, an oversized
 * body 413, old events are pruned at start, and mosctl status shows each user their own use.
 * Automatic checkpoints that cannot fit are paused (no dump, said once) and resume once the
 * administrator raises the quota.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import type { ApiErrorBody, Checkpoint, Event, LimitsReport } from '@godwit/schemas';
import { restartComponent, stopComponent } from '../../cli/src/cluster/index.js';
import { api, cli, cluster, eventually, guestEnv, mosrun, processInfo, program, type Harness, type Run } from './harness.js';

describe('limits', function () {
  let h: Harness;
  let configPath: string;
  let original: string;
  let run: Run;
  let id: number;
  let good: Checkpoint;
  let goodBytes: Buffer;
  /** the user's checkpoints when the tiny limits came in: the suite's earlier files leave theirs */
  let kept: { checkpointBytes: number; checkpoints: number };
  /** the newest event when the tiny limits came in */
  let lastEventBefore: number;
  const quota = () => Math.floor(good.bytes / 2);
  const tinyLimits = () => ({ checkpointBytesPerUser: quota(), liveProcessesPerUser: 2, requestsPerMinute: 300, bodyBytes: 4096, eventsKeepCount: 3 });

  async function restartOrchestrator(): Promise<void> {
    await stopComponent({ home: h.home, name: 'orchestrator', signal: 'SIGTERM' });
    await restartComponent({ home: h.home, name: 'orchestrator' });
    await eventually(async () => {
      const nodes = await api<{ state: string }[]>(h, 'GET', '/v1/nodes');
      return nodes.status === 200 && nodes.body.every((n) => n.state === 'online') ? true : undefined;
    }, 'every node online after the orchestrator restarted', 60_000);
  }
  const admin = () => (JSON.parse(readFileSync(h.info.adminConfigPath, 'utf8')) as { token: string }).token;

  before(async function () {
    this.timeout(300_000);
    h = await cluster();
    configPath = join(h.home, 'orchestrator', 'config.json');
    original = readFileSync(configPath, 'utf8');
    // -N 1: a next checkpoint would replace this one, the only one
    run = mosrun(h, ['-C', 'quota', '-N', '1', program('counter'), '1200']);
    id = await run.id();
    await run.waitFor(/^3$/m);
    const taken = await cli(h, 'mosmigrate', [String(id), 'checkpoint']);
    expect(taken.exitCode, taken.stderr).to.equal(0);
    good = (await api<Checkpoint[]>(h, 'GET', `/v1/processes/${id}/checkpoints`)).body[0]!;
    goodBytes = readFileSync(good.path);
    const use = (await api<LimitsReport>(h, 'GET', '/v1/limits')).body.use.find((u) => u.user === h.info.client.user);
    if (!use) throw new Error(`no use of ${h.info.client.user} in GET /v1/limits after a checkpoint`);
    kept = { checkpointBytes: use.checkpointBytes, checkpoints: use.checkpoints };
    expect(kept.checkpointBytes, `use ${JSON.stringify(use)}, the checkpoint ${good.bytes} bytes`).to.be.at.least(good.bytes);
    const events = await api<Event[]>(h, 'GET', '/v1/events', undefined, admin());
    expect(events.body.length, `events before the limits: ${events.body.length}`).to.be.above(3);
    lastEventBefore = events.body.at(-1)!.id;
    const config = JSON.parse(original) as Record<string, unknown>;
    config.limits = tinyLimits();
    writeFileSync(configPath, JSON.stringify(config, null, 2));
    await restartOrchestrator();
  });

  after(async function () {
    this.timeout(300_000);
    if (id) await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
    if (original) {
      writeFileSync(configPath, original);
      await restartOrchestrator();
    }
  });

  it('refuses a checkpoint past the quota, naming use and quota; the last good one is kept and the program runs on', async function () {
    this.timeout(180_000);
    const refused = await cli(h, 'mosmigrate', [String(id), 'checkpoint']);
    expect(refused.exitCode, refused.stdout).not.to.equal(0);
    expect(refused.stderr).to.match(new RegExp(`checkpoint of process ${id} refused: ${h.info.client.user}'s checkpoints use .* of a quota of .*the process runs on and its earlier checkpoints are kept`));
    expect(refused.stderr, 'no stack trace').not.to.match(/\n\s+at /);
    expect(readFileSync(good.path).equals(goodBytes), `${good.path} is the last good checkpoint, untouched`).to.equal(true);
    expect(statSync(`${good.path}.partial`, { throwIfNoEntry: false }), 'nothing half written left').to.equal(undefined);
    const after = await api<Checkpoint[]>(h, 'GET', `/v1/processes/${id}/checkpoints`);
    expect(after.body.map((c) => [c.path, c.mac])).to.deep.equal([[good.path, good.mac]]);
    expect((await processInfo(h, id)).state).to.equal('running');
    const seen = run.stdout().length;
    await eventually(async () => (run.stdout().length > seen ? true : undefined), 'the program printing on after the refusal');
  });

  it('refuses a start past the live process limit, and nothing is made', async function () {
    this.timeout(180_000);
    const second = mosrun(h, [program('counter'), '1200']);
    const secondId = await second.id();
    try {
      const before = (await api<unknown[]>(h, 'GET', '/v1/processes')).body.length;
      const third = await cli(h, 'mosrun', [program('counter'), '5']);
      expect(third.exitCode).not.to.equal(0);
      expect(third.stderr).to.contain(`${h.info.client.user} has 2 live processes (running, migrating or frozen), the most a user may have (2): nothing was started`);
      expect((await api<unknown[]>(h, 'GET', '/v1/processes')).body, 'no process made').to.have.length(before);
    } finally {
      await api(h, 'POST', `/v1/processes/${secondId}/signal`, { signal: 'SIGKILL' });
      // ended before the next test counts the user's live processes
      await second.child;
      await eventually(async () => ((await processInfo(h, secondId)).state === 'running' ? undefined : true), `process ${secondId} to end after SIGKILL`);
    }
  });

  it('refuses an oversized request body with 413 TOO_LARGE, making nothing', async () => {
    const res = await api<ApiErrorBody>(h, 'POST', '/v1/processes', { argv: [program('counter'), 'x'.repeat(8192)], cwd: '/' });
    expect(res.status, JSON.stringify(res.body)).to.equal(413);
    expect(res.body).to.include({ code: 'GODWIT_ERR_TOO_LARGE', error: 'Payload Too Large' });
  });

  it('pruned the events past the count kept when it started', async () => {
    const events = (await api<Event[]>(h, 'GET', '/v1/events', undefined, admin())).body;
    const older = events.filter((e) => e.id <= lastEventBefore);
    expect(older.length, `events from before the restart: ${older.map((e) => e.id).join(', ')}`).to.be.at.most(3);
  });

  it("mosctl status shows the limits and the user's use; another user sees only their own", async function () {
    this.timeout(120_000);
    const status = await cli(h, 'mosctl', ['status']);
    expect(status.exitCode, status.stderr).to.equal(0);
    expect(status.stdout).to.match(/^Limits: 300 requests a minute per caller; request bodies up to 4\.0 KiB/m);
    expect(status.stdout, `mosctl status printed:\n${status.stdout}`).to.match(new RegExp(`^${h.info.client.user}\\s+.+ / .+\\s+${kept.checkpoints}\\s+1 / 2$`, 'm'));
    const mine = (await api<LimitsReport>(h, 'GET', '/v1/limits')).body;
    expect(mine.use).to.deep.equal([{ user: h.info.client.user, ...kept, liveProcesses: 1, autoCheckpointsPaused: [] }]);
    expect(mine.limits.checkpointBytesPerUser).to.equal(quota());

    // the guest: neither sees the first user's figures nor can spend their quota
    const theirs = await cli(h, 'mosctl', ['status'], { env: guestEnv(h) });
    expect(theirs.exitCode, theirs.stderr).to.equal(0);
    expect(theirs.stdout).not.to.contain(h.info.client.user);
    expect(theirs.stdout).to.match(new RegExp(`^${h.info.guest.user}\\s`, 'm'));
    const spend = await cli(h, 'mosmigrate', [String(id), 'checkpoint'], { env: guestEnv(h) });
    expect(spend.exitCode, 'the guest cannot checkpoint the first user\'s process').not.to.equal(0);
    expect((await api<LimitsReport>(h, 'GET', '/v1/limits')).body.use[0], 'use unchanged').to.include(kept);
  });

  it('pauses automatic checkpoints that cannot fit, without a dump, says so once, and resumes when the quota is raised', async function () {
    this.timeout(300_000);
    const every = 1.2;
    const auto = mosrun(h, ['-C', 'auto', '-A', String(every / 60), program('counter'), '1200']);
    const autoId = await auto.id();
    const kinds = async () => (await api<Event[]>(h, 'GET', `/v1/events?process=${autoId}`)).body.map((e) => e.kind);
    try {
      let reason: string | null | undefined;
      await eventually(async () => {
        reason = (await processInfo(h, autoId)).autoCheckpointsPaused;
        return reason ? true : undefined;
      }, () => `process ${autoId}'s automatic checkpoints paused; autoCheckpointsPaused is ${JSON.stringify(reason)}`);
      expect(reason).to.match(new RegExp(`^${h.info.client.user}'s checkpoints use .* of a quota of .*: none is dumped until it fits`));
      // three intervals more: still no dump, no refusal, no second word of it
      const pausedAt = Date.now();
      await eventually(async () => (Date.now() - pausedAt > 3 * every * 1000 ? true : undefined), 'three intervals to pass');
      expect((await kinds()).filter((k) => k.startsWith('checkpoint') || k.startsWith('auto-')), 'no dump refused, the pause told once').to.deep.equal(['auto-checkpoints-paused']);
      expect((await api<Checkpoint[]>(h, 'GET', `/v1/processes/${autoId}/checkpoints`)).body).to.deep.equal([]);
      const status = await cli(h, 'mosctl', ['status']);
      expect(status.stdout, `mosctl status printed:\n${status.stdout}`).to.contain(`process ${autoId} (${h.info.client.user}): automatic checkpoints paused: `);

      const config = JSON.parse(original) as Record<string, unknown>;
      config.limits = { ...tinyLimits(), checkpointBytesPerUser: 1024 * 1024 * 1024 };
      writeFileSync(configPath, JSON.stringify(config, null, 2));
      await restartOrchestrator();
      let seen: string[] = [];
      await eventually(async () => {
        seen = await kinds();
        return seen.includes('auto-checkpoints-resumed') ? true : undefined;
      }, () => `automatic checkpoints resumed; events: ${seen.join(', ')}`, 120_000);
      const p = await processInfo(h, autoId);
      expect({ paused: p.autoCheckpointsPaused, state: p.state }).to.deep.equal({ paused: null, state: 'running' });
      expect(p.checkpoints).to.be.at.least(1);
    } finally {
      await api(h, 'POST', `/v1/processes/${autoId}/signal`, { signal: 'SIGKILL' });
      await auto.child;
      await eventually(async () => ((await processInfo(h, autoId)).state === 'running' ? undefined : true), `process ${autoId} to end after SIGKILL`);
    }
  });

  // last: the guest stays limited for the rest of the minute
  it("answers a caller past the rate with 429 RATE_LIMITED in the one error shape; other callers go on", async function () {
    this.timeout(120_000);
    const guest = h.info.guest.token;
    let last = { status: 0, body: undefined as unknown };
    for (let i = 0; i < 301 && last.status !== 429; i++) last = await api(h, 'GET', '/v1/whoami', undefined, guest);
    expect(last.status, JSON.stringify(last.body)).to.equal(429);
    expect(last.body).to.include({ statusCode: 429, code: 'GODWIT_ERR_RATE_LIMITED', error: 'Too Many Requests' });
    expect((last.body as ApiErrorBody).message).to.match(/at most 300 a minute per caller; try again in \d+ s/);
    expect((await api(h, 'GET', '/v1/whoami')).status, 'the first user is another caller').to.equal(200);
  });
});
