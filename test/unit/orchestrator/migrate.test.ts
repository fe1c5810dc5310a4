import { expect } from 'chai';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import WebSocket from 'ws';
import type { RestoreRequest } from '@godwit/schemas';
import { type Cluster, TOKENS, decodeOutput, startCluster, waitFor } from './harness.js';

const RUN = { argv: ['/bin/prog'], cwd: '/tmp' };

describe('orchestrator migrations', function () {
  let c: Cluster;
  beforeEach(async () => {
    c = await startCluster({ nodes: 3 });
  });
  afterEach(async () => {
    await c.close();
  });

  async function runOn(node = 'node0'): Promise<number> {
    const res = await c.req('alice', 'POST', '/v1/processes', { ...RUN, node });
    expect(res.status, res.body).to.equal(201);
    return res.json.id;
  }

  async function outputText(id: number): Promise<string> {
    return decodeOutput((await c.req('alice', 'GET', `/v1/processes/${id}/output`)).body).text;
  }

  it("sends each step of a process's migration over its progress websocket, and only to its owner", async () => {
    const id = await runOn('node0');
    const open = (token: string) => new WebSocket(`${c.url.replace(/^http/, 'ws')}/v1/processes/${id}/progress`, { headers: { authorization: `Bearer ${token}` } });
    const ws = open(TOKENS.alice);
    const got: { state: string; migrationId: number; bytes: number }[] = [];
    ws.on('message', (d: WebSocket.RawData) => got.push(JSON.parse(String(d))));
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const stranger = open(TOKENS.bob);
    const refused = await new Promise<number>((resolve) => stranger.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(refused, "another user's process is not found").to.equal(404);
    const m = (await c.req('alice', 'POST', `/v1/processes/${id}/migrate`, { to: 'node1' })).json;
    await waitFor(async () => got.at(-1)?.state === 'done', 'the done step over the websocket', 5000, async () => JSON.stringify(got));
    ws.close();
    expect(got.map((p) => p.state)).to.deep.equal(['dumping', 'dumped', 'transferring', 'transferred', 'restoring', 'done']);
    expect(got.every((p) => p.migrationId === m.id)).to.equal(true);
    expect(got.at(-1)!.bytes).to.equal(4096);
  });

  it('moves a process, and its output goes on in order across epochs', async () => {
    const id = await runOn('node0');
    c.agent('node0').write(id, 'o', 'one\n');
    await waitFor(async () => (await outputText(id)) === 'one\n', 'first output relayed', 5000, () => outputText(id));
    const res = await c.req('alice', 'POST', `/v1/processes/${id}/migrate`, { to: 'node1' });
    expect(res.status, res.body).to.equal(200);
    const m = res.json;
    expect(m).to.include({ processId: id, from: 'node0', to: 'node1', state: 'done', strategy: 'full', bytes: 4096 });
    expect(m.steps.map((s: any) => s.state)).to.deep.equal([
      'requested', 'dumping', 'dumped', 'transferring', 'transferred', 'restoring', 'done',
    ]);
    expect(m.stoppedMs).to.be.a('number');
    expect(m.frozenMs, 'the old name, kept for one version').to.equal(m.stoppedMs);
    expect(m.totalMs).to.be.a('number');
    const p = (await c.req('alice', 'GET', `/v1/processes/${id}`)).json;
    const restored = c.agent('node1').current(id)!;
    expect(restored.proc.epoch).to.equal(1);
    expect(p).to.include({ node: 'node1', nmigs: 1, state: 'running', pid: restored.proc.pid, lastStoppedMs: m.stoppedMs, lastFrozenMs: m.stoppedMs });
    expect(p.origPid).to.not.equal(p.pid);

    c.agent('node1').write(id, 'e', 'two\n');
    // and home again, which is node0
    const back = await c.req('alice', 'POST', `/v1/processes/${id}/migrate`, { to: 'home' });
    expect(back.json).to.include({ from: 'node1', to: 'node0', state: 'done' });
    c.agent('node0').write(id, 'o', 'three\n');
    c.agent('node0').exit(id, 0);
    const out = decodeOutput((await c.req('alice', 'GET', `/v1/processes/${id}/output?follow=true`)).body);
    expect(out.text).to.equal('one\ntwo\nthree\n');
    expect(out.lines.map((l) => l.offset ?? 'exit')).to.deep.equal([0, 4, 8, 'exit']);
    expect(out.exit).to.deep.equal({ code: 0, signal: null });
    const after = (await c.req('alice', 'GET', `/v1/processes/${id}`)).json;
    expect(after).to.include({ node: 'node0', nmigs: 2, state: 'exited', exitCode: 0 });
    // images and finished epochs are cleaned up at the agents
    await waitFor(
      () => c.agents.every((a) => a.images.size === 0 && a.epochs.size === 0),
      'images and epochs deleted',
      5000,
      () => c.agents.map((a) => ({ node: a.name, images: [...a.images.keys()], epochs: [...a.epochs.keys()] })),
    );
    const list = (await c.req('alice', 'GET', `/v1/processes/${id}/migrations`)).json;
    expect(list.map((x: any) => x.id)).to.deep.equal([m.id, back.json.id]);
    expect((await c.req('alice', 'GET', `/v1/migrations/${m.id}`)).json.state).to.equal('done');
    expect((await c.req('bob', 'GET', `/v1/migrations/${m.id}`)).status).to.equal(404);
    const kinds = (await c.req('alice', 'GET', `/v1/events?process=${id}`)).json.map((e: any) => e.kind);
    expect(kinds).to.deep.equal(['started', 'migration-started', 'migrated', 'migration-started', 'migrated', 'exited']);
  });

  it('checks the request before anything stops', async () => {
    const id = await runOn('node0');
    const unknown = await c.req('alice', 'POST', `/v1/processes/${id}/migrate`, { to: 'node7' });
    expect(unknown.status).to.equal(404);
    expect(unknown.json.code).to.equal('GODWIT_ERR_NODE_NOT_FOUND');
    expect(unknown.json.message).to.contain('node0, node1, node2');
    expect(unknown.json.details.nodes).to.deep.equal(['node0', 'node1', 'node2']);
    const same = await c.req('alice', 'POST', `/v1/processes/${id}/migrate`, { to: 'home' });
    expect(same.status).to.equal(409);
    expect(same.json.code).to.equal('GODWIT_ERR_SAME_NODE');
    await c.agent('node2').disconnect();
    await waitFor(() => !c.app.godwit.ctx.nodes.isOnline('node2'), 'node2 offline');
    const off = await c.req('alice', 'POST', `/v1/processes/${id}/migrate`, { to: 'node2' });
    expect(off.status).to.equal(409);
    expect(off.json.code).to.equal('GODWIT_ERR_NODE_OFFLINE');
    expect(c.agent('node0').calls.filter((x) => x.includes('/dump'))).to.deep.equal([]);
    expect((await c.req('alice', 'GET', `/v1/processes/${id}/migrations`)).json).to.deep.equal([]);
    c.agent('node0').exit(id, 1);
    await waitFor(async () => (await c.req('alice', 'GET', `/v1/processes/${id}`)).json.state === 'exited', 'exited');
    const gone = await c.req('alice', 'POST', `/v1/processes/${id}/migrate`, { to: 'node1' });
    expect(gone.status).to.equal(409);
    expect(gone.json.code).to.equal('GODWIT_ERR_PROCESS_NOT_RUNNING');
  });

  it('refuses a second migration while one runs', async () => {
    const id = await runOn('node0');
    // hold the first migration in its restore step
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const agent = c.app.godwit.ctx.agent('node1');
    const restore = agent.restore;
    agent.restore = async (...args) => {
      await held;
      return restore(...args);
    };
    const first = c.req('alice', 'POST', `/v1/processes/${id}/migrate`, { to: 'node1' });
    await waitFor(async () => (await c.req('alice', 'GET', `/v1/processes/${id}`)).json.state === 'migrating', 'migrating');
    const second = await c.req('alice', 'POST', `/v1/processes/${id}/migrate`, { to: 'node2' });
    expect(second.status).to.equal(409);
    expect(second.json.code).to.equal('GODWIT_ERR_MIGRATION_IN_PROGRESS');
    release();
    expect((await first).json.state).to.equal('done');
    agent.restore = restore;
  });

  it('reports a dump failure with CRIU’s reason; the process keeps running at the source', async () => {
    const id = await runOn('node0');
    c.agent('node0').fail.dump = {
      code: 'GODWIT_ERR_CANNOT_DUMP',
      message: 'CRIU could not dump it: Error (criu/sk-inet.c:188): inet: Connected TCP socket, consider using --tcp-established',
      details: { criuLog: ['Error (criu/sk-inet.c:188)'] },
    };
    const res = await c.req('alice', 'POST', `/v1/processes/${id}/migrate`, { to: 'node1' });
    expect(res.status).to.equal(422);
    expect(res.json.code).to.equal('GODWIT_ERR_CANNOT_DUMP');
    expect(res.json.message).to.equal(
      `process ${id} cannot move to node1: CRIU could not dump it: Error (criu/sk-inet.c:188): inet: Connected TCP socket, consider using --tcp-established; it keeps running on node0`,
    );
    expect(res.json.details.migrationId).to.be.a('number');
    expect(res.json.details.criuLog).to.deep.equal(['Error (criu/sk-inet.c:188)']);
    const p = (await c.req('alice', 'GET', `/v1/processes/${id}`)).json;
    expect(p).to.include({ node: 'node0', state: 'running', nmigs: 0 });
    const m = (await c.req('alice', 'GET', `/v1/migrations/${res.json.details.migrationId}`)).json;
    expect(m).to.include({ state: 'failed', code: 'GODWIT_ERR_CANNOT_DUMP' });
    expect(m.reason).to.contain('Connected TCP socket');
    expect(m.steps.map((s: any) => s.state)).to.deep.equal(['requested', 'dumping', 'failed']);
    // the program still writes, and the relay still reads it
    c.agent('node0').write(id, 'o', 'still here\n');
    await waitFor(async () => (await outputText(id)) === 'still here\n', 'output after the failed dump', 5000, () => outputText(id));
  });

  it('does not stop the program when its owner has no account at the destination', async () => {
    const id = await runOn('node0');
    c.agent('node1').fail.account = { code: 'GODWIT_ERR_NO_ACCOUNT', message: "there is no Unix account 'alice' on node1" };
    const res = await c.req('alice', 'POST', `/v1/processes/${id}/migrate`, { to: 'node1' });
    expect(res.json.code, JSON.stringify(res.json)).to.equal('GODWIT_ERR_NO_ACCOUNT');
    expect(res.json.message).to.equal(`process ${id} cannot move to node1: there is no Unix account 'alice' on node1; it keeps running on node0`);
    expect(c.agent('node0').calls.filter((call) => call.includes('/dump')), 'no dump was asked for').to.deep.equal([]);
    expect((await c.req('alice', 'GET', `/v1/processes/${id}`)).json).to.include({ node: 'node0', state: 'running', nmigs: 0 });
  });

  it('rolls back at the source when the destination cannot restore', async () => {
    const id = await runOn('node0');
    c.agent('node0').write(id, 'o', 'before\n');
    const oldPid = c.agent('node0').current(id)!.proc.pid;
    c.agent('node1').fail.restore = { code: 'GODWIT_ERR_CANNOT_RESTORE', message: 'CRIU could not restore it: no such cgroup' };
    const res = await c.req('alice', 'POST', `/v1/processes/${id}/migrate`, { to: 'node1' });
    expect(res.status).to.equal(422);
    expect(res.json.code).to.equal('GODWIT_ERR_CANNOT_RESTORE');
    expect(res.json.message).to.equal(
      `process ${id} cannot move to node1: CRIU could not restore it: no such cgroup; it was restored on node0 and keeps running there`,
    );
    const m = (await c.req('alice', 'GET', `/v1/migrations/${res.json.details.migrationId}`)).json;
    expect(m.steps.map((s: any) => s.state)).to.deep.equal([
      'requested', 'dumping', 'dumped', 'transferring', 'transferred', 'restoring', 'rolling-back', 'failed',
    ]);
    const back = c.agent('node0').current(id)!;
    expect(back.proc).to.include({ epoch: 1, state: 'running' });
    const p = (await c.req('alice', 'GET', `/v1/processes/${id}`)).json;
    expect(p).to.include({ node: 'node0', state: 'running', nmigs: 0, pid: back.proc.pid });
    expect(p.pid).to.not.equal(oldPid);
    c.agent('node0').write(id, 'o', 'after\n');
    c.agent('node0').exit(id, 0);
    const out = decodeOutput((await c.req('alice', 'GET', `/v1/processes/${id}/output?follow=true`)).body);
    expect(out.text).to.equal('before\nafter\n');
    const kinds = (await c.req('alice', 'GET', `/v1/events?process=${id}`)).json.map((e: any) => e.kind);
    expect(kinds).to.include('migration-failed');
  });

  it('loses the process, and says so, when the rollback fails too', async () => {
    const id = await runOn('node0');
    c.agent('node1').fail.restore = { code: 'GODWIT_ERR_CANNOT_RESTORE', message: 'CRIU could not restore it: boom' };
    c.agent('node0').fail.restore = { code: 'GODWIT_ERR_CANNOT_RESTORE', message: 'CRIU could not restore it: bang' };
    const res = await c.req('alice', 'POST', `/v1/processes/${id}/migrate`, { to: 'node1' });
    expect(res.json.code).to.equal('GODWIT_ERR_CANNOT_RESTORE');
    expect(res.json.message).to.contain('restoring it on node0 failed too (CRIU could not restore it: bang): the process is lost');
    expect((await c.req('alice', 'GET', `/v1/processes/${id}`)).json.state).to.equal('lost');
    const out = decodeOutput((await c.req('alice', 'GET', `/v1/processes/${id}/output?follow=true`)).body);
    expect(out.exit).to.deep.equal({ code: null, signal: null });
  });

  it('rolls back when the transfer fails', async () => {
    const id = await runOn('node0');
    c.agent('node0').fail.send = { code: 'GODWIT_ERR_TRANSFER_FAILED', message: 'connection to node1 reset' };
    const res = await c.req('alice', 'POST', `/v1/processes/${id}/migrate`, { to: 'node1' });
    expect(res.json.code).to.equal('GODWIT_ERR_TRANSFER_FAILED');
    const m = (await c.req('alice', 'GET', `/v1/migrations/${res.json.details.migrationId}`)).json;
    expect(m.steps.map((s: any) => s.state)).to.deep.equal(['requested', 'dumping', 'dumped', 'transferring', 'rolling-back', 'failed']);
    expect((await c.req('alice', 'GET', `/v1/processes/${id}`)).json).to.include({ node: 'node0', state: 'running' });
  });

  it("hands the source a credential for that one move from the destination, never a node's token, and it works only once", async () => {
    const id = await runOn('node0');
    const res = await c.req('alice', 'POST', `/v1/processes/${id}/migrate`, { to: 'node1' });
    expect(res.json, res.body).to.include({ state: 'done' });
    const mid = res.json.id as number;
    expect(c.agent('node1').calls, 'the destination was asked for it').to.include(`POST /v1/images/${mid}/expect`);
    const [sent] = c.agent('node0').sends;
    expect(sent?.to, JSON.stringify(sent)).to.have.keys(['url', 'credential']);
    expect(sent!.to.credential).to.match(/^[0-9a-f]{64}$/);
    const told = JSON.stringify(c.agents.flatMap((a) => a.sends));
    for (const a of c.agents) expect(told, `${a.name}'s token in what a source was told`).to.not.contain(a.token);
    // the images went in with it; a second PUT with it, or one with the node's token, is refused
    const put = (bearer: string) =>
      fetch(`${c.agent('node1').url}/v1/images/${mid}`, { method: 'PUT', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: '{}' });
    for (const [what, bearer] of [['the used credential', sent!.to.credential], ["node1's token", c.agent('node1').token]] as const) {
      const again = await put(bearer);
      expect(again.status, `${what}: ${await again.clone().text()}`).to.equal(401);
      expect(((await again.json()) as { code: string }).code).to.equal('GODWIT_ERR_UNAUTHORIZED');
    }
  });

  describe('after an orchestrator restart', () => {
    function forgeMigration(id: number, state: string, fromEpoch = 0): number {
      const db = new Database(join(c.config.dataDir, 'godwit.db'));
      try {
        const now = Date.now();
        const steps = ['requested', 'dumping', 'dumped', 'transferring', 'transferred', 'restoring'];
        const upTo = steps.slice(0, steps.indexOf(state) + 1).map((s) => ({ state: s, at: now }));
        const mid = Number(
          db
            .prepare(
              `INSERT INTO migrations (process_id, from_node, to_node, strategy, state, steps, from_epoch, dump, bytes, started_at)
               VALUES (?, 'node0', 'node1', 'full', ?, ?, ?, ?, 4096, ?)`,
            )
            .run(id, state, JSON.stringify(upTo), fromEpoch, JSON.stringify({ stoppedAt: now, inodes: { in: 1, out: 2, err: 3 }, bytes: 4096 }), now)
            .lastInsertRowid,
        );
        db.prepare(`UPDATE processes SET state = 'migrating' WHERE id = ?`).run(id);
        return mid;
      } finally {
        db.close();
      }
    }

    async function stopOrchestrator(): Promise<void> {
      for (const a of c.agents) await a.disconnect();
      await c.app.close();
    }

    it('rolls back a migration left in "transferred"', async () => {
      const id = await runOn('node0');
      c.agent('node0').write(id, 'o', 'a\n');
      await waitFor(async () => (await outputText(id)) === 'a\n', 'first output');
      await stopOrchestrator();
      // the orchestrator "died" after the images reached node1
      const mid = forgeMigration(id, 'transferred');
      c.agent('node0').dumpNow(id, mid);
      c.agent('node1').images.set(mid, { ...c.agent('node0').images.get(mid)! });
      await c.restart();
      await c.app.godwit.reconciled;
      const m = (await c.req('alice', 'GET', `/v1/migrations/${mid}`)).json;
      expect(m.state).to.equal('failed');
      expect(m.steps.map((s: any) => s.state).slice(-2)).to.deep.equal(['rolling-back', 'failed']);
      const p = (await c.req('alice', 'GET', `/v1/processes/${id}`)).json;
      const back = c.agent('node0').current(id)!;
      expect(back.proc).to.include({ epoch: 1, state: 'running' });
      expect(p).to.include({ node: 'node0', state: 'running', pid: back.proc.pid });
      c.agent('node0').write(id, 'o', 'b\n');
      c.agent('node0').exit(id, 0);
      const out = decodeOutput((await c.req('alice', 'GET', `/v1/processes/${id}/output?follow=true`)).body);
      expect(out.text).to.equal('a\nb\n');
      await waitFor(() => c.agents.every((a) => a.images.size === 0), 'images deleted', 5000, () =>
        c.agents.map((a) => [...a.images.keys()]),
      );
    });

    it('finishes a migration whose destination already runs the process', async () => {
      const id = await runOn('node0');
      await stopOrchestrator();
      const mid = forgeMigration(id, 'restoring');
      c.agent('node0').dumpNow(id, mid);
      c.agent('node1').images.set(mid, { ...c.agent('node0').images.get(mid)! });
      // node1 had restored it when the orchestrator died
      const res = await fetch(`${c.agent('node1').url}/v1/procs/${id}/restore`, {
        method: 'POST',
        headers: { authorization: `Bearer ${c.agent('node1').token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ migrationId: mid, account: 'alice', epoch: 1, inodes: { in: 1, out: 2, err: 3 } } satisfies RestoreRequest),
      });
      expect(res.status, await res.text()).to.equal(200);
      await c.restart();
      await c.app.godwit.reconciled;
      const m = (await c.req('alice', 'GET', `/v1/migrations/${mid}`)).json;
      expect(m.state).to.equal('done');
      const p = (await c.req('alice', 'GET', `/v1/processes/${id}`)).json;
      expect(p).to.include({ node: 'node1', state: 'running', nmigs: 1, pid: c.agent('node1').current(id)!.proc.pid });
      c.agent('node1').write(id, 'o', 'there\n');
      c.agent('node1').exit(id, 5);
      const out = decodeOutput((await c.req('alice', 'GET', `/v1/processes/${id}/output?follow=true`)).body);
      expect(out.text).to.equal('there\n');
      expect(out.exit).to.deep.equal({ code: 5, signal: null });
    });

    it('fails a migration whose process never stopped', async () => {
      const id = await runOn('node0');
      await stopOrchestrator();
      const mid = forgeMigration(id, 'dumping');
      await c.restart();
      await c.app.godwit.reconciled;
      const m = (await c.req('alice', 'GET', `/v1/migrations/${mid}`)).json;
      expect(m.state).to.equal('failed');
      expect(m.reason).to.contain('the process stayed on node0');
      expect((await c.req('alice', 'GET', `/v1/processes/${id}`)).json).to.include({ node: 'node0', state: 'running' });
    });

    it('marks lost a process that no agent knows any more, and keeps output on disk', async () => {
      const id = await runOn('node0');
      const gone = await runOn('node1');
      c.agent('node0').write(id, 'o', 'kept\n');
      await waitFor(async () => (await outputText(id)) === 'kept\n', 'output kept');
      await stopOrchestrator();
      c.agent('node1').epochs.clear();
      await c.restart();
      await c.app.godwit.reconciled;
      expect((await c.req('alice', 'GET', `/v1/processes/${gone}`)).json.state).to.equal('lost');
      expect((await c.req('alice', 'GET', `/v1/processes/${id}`)).json.state).to.equal('running');
      expect(await outputText(id)).to.equal('kept\n');
      c.agent('node0').write(id, 'o', 'more\n');
      await waitFor(async () => (await outputText(id)) === 'kept\nmore\n', 'output after restart', 5000, () => outputText(id));
    });
  });
});
