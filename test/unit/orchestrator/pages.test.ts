import http from 'node:http';
import { expect } from 'chai';
import { type EventGap, NEXT_CURSOR_HEADER } from '@godwit/schemas';
import { pruneEvents } from '../../../orchestrator/src/event-pruning.js';
import { type Cluster, startCluster, TOKENS, waitFor } from './harness.js';

const RUN = { argv: ['/bin/prog', 'x'], cwd: '/tmp' };
type User = keyof typeof TOKENS;

describe('paged and filtered lists, and the event watch stream', function () {
  let c: Cluster;
  const ids: Record<'alice' | 'bob', number[]> = { alice: [], bob: [] };

  async function start(user: 'alice' | 'bob', node = 'node0'): Promise<number> {
    const res = await c.req(user, 'POST', '/v1/processes', { ...RUN, node });
    expect(res.status, res.body).to.equal(201);
    ids[user].push(res.json.id);
    return res.json.id;
  }

  /** every page of url (which has its limit) as user: the ids of each page, and whether each page had a next cursor */
  async function pages(user: User, url: string): Promise<number[][]> {
    const all: number[][] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 100; i++) {
      const res = await c.req(user, 'GET', `${url}${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status, res.body).to.equal(200);
      all.push(res.json.map((r: { id: number }) => r.id));
      cursor = res.headers[NEXT_CURSOR_HEADER] as string | undefined;
      if (!cursor) return all;
    }
    throw new Error(`more than 100 pages of ${url}: ${JSON.stringify(all)}`);
  }

  const sql = (text: string, ...values: unknown[]) => c.app.godwit.ctx.db.raw.prepare(text).run(...values);

  beforeEach(async () => {
    // a loaded machine may keep an agent's report late: it must not be taken for offline
    c = await startCluster({ nodes: 2, nodeTimeoutMs: 15_000 });
    ids.alice = [];
    ids.bob = [];
    for (let i = 0; i < 5; i++) await start('alice', i === 4 ? 'node1' : 'node0');
    for (let i = 0; i < 2; i++) await start('bob');
  });
  afterEach(async () => {
    await c.close();
  });

  it("pages a user's processes across page boundaries by cursor, a new one in a later page, never a stranger's", async () => {
    const got = await pages('alice', '/v1/processes?limit=2');
    expect(got, 'pages of 2').to.deep.equal([ids.alice.slice(0, 2), ids.alice.slice(2, 4), ids.alice.slice(4)]);
    // a process started between two pages comes in the later one, and nothing is given twice
    const first = await c.req('alice', 'GET', '/v1/processes?limit=3');
    const later = await start('alice');
    const rest = await c.req('alice', 'GET', `/v1/processes?limit=3&cursor=${first.headers[NEXT_CURSOR_HEADER] as string}`);
    expect([...first.json, ...rest.json].map((p: { id: number }) => p.id)).to.deep.equal([...ids.alice.slice(0, 5), later]);
    expect(rest.headers, 'the last page has no next cursor').to.not.have.property(NEXT_CURSOR_HEADER);
    // a page exactly full: no cursor to an empty page
    expect((await c.req('alice', 'GET', '/v1/processes?limit=6')).headers).to.not.have.property(NEXT_CURSOR_HEADER);
    // bob's never appear, whatever the filters; root's all=true pages everyone's
    for (const url of ['/v1/processes?limit=1', '/v1/processes?limit=100&state=running', '/v1/processes?limit=5&node=node0']) {
      for (const page of await pages('bob', url)) for (const id of page) expect(ids.bob, `${url} as bob gave ${id}`).to.include(id);
    }
    expect((await pages('root', '/v1/processes?all=true&limit=4')).flat()).to.deep.equal([...ids.alice.slice(0, 5), ...ids.bob, later].sort((a, b) => a - b));
    // without limit: the whole list at once, as before paging
    const whole = await c.req('alice', 'GET', '/v1/processes');
    expect(whole.json.map((p: { id: number }) => p.id)).to.deep.equal(ids.alice);
    expect(whole.headers).to.not.have.property(NEXT_CURSOR_HEADER);
  });

  it('filters processes by state (one or several), node, since, and owner for an administrator', async () => {
    const [a0, a1, a2, a3, a4] = ids.alice as [number, number, number, number, number];
    sql(`UPDATE processes SET state = 'exited', ended_at = 1 WHERE id = ?`, a1);
    sql(`UPDATE processes SET state = 'frozen', pid = NULL WHERE id = ?`, a2);
    sql('UPDATE processes SET created_at = 1000 WHERE id IN (?, ?)', a0, a1);
    const list = async (user: User, q: string) => {
      const res = await c.req(user, 'GET', `/v1/processes?${q}`);
      expect(res.status, `${q}: ${res.body}`).to.equal(200);
      return res.json.map((p: { id: number }) => p.id);
    };
    expect(await list('alice', 'state=running')).to.deep.equal([a0, a3, a4]);
    expect(await list('alice', 'state=exited,frozen')).to.deep.equal([a1, a2]);
    expect(await list('alice', 'node=node1')).to.deep.equal([a4]);
    expect(await list('alice', 'since=2000')).to.deep.equal([a2, a3, a4]);
    expect(await list('alice', 'state=running&since=2000&limit=1')).to.deep.equal([a3]);
    expect(await list('root', 'owner=bob')).to.deep.equal(ids.bob);
    expect(await list('root', 'owner=alice&state=frozen')).to.deep.equal([a2]);
    expect(await list('alice', 'owner=alice&node=node0&state=running')).to.deep.equal([a0, a3]);
    // a stranger may not name another owner: refused, not an empty list that looks like none
    const refused = await c.req('bob', 'GET', '/v1/processes?owner=alice');
    expect(refused.status).to.equal(403);
    expect(refused.json).to.include({ code: 'GODWIT_ERR_FORBIDDEN', statusCode: 403 });
    expect(refused.json.message).to.contain("another user's");
  });

  it('gives a list asked again as it is now: each change at once, each user their own rows', async () => {
    const { db } = c.app.godwit.ctx;
    const url = '/v1/processes?state=running&limit=100';
    const list = async (user: User) => {
      const res = await c.req(user, 'GET', url);
      expect(res.status, res.body).to.equal(200);
      return res.json as { id: number; state: string; memBytes: number | null }[];
    };
    const first = await list('alice');
    expect(first.map((p) => p.id)).to.deep.equal(ids.alice);
    expect(await list('alice'), 'asked again, unchanged').to.deep.equal(first);
    // the same request from another user: their own rows, not the page just given
    expect((await list('bob')).map((p) => p.id)).to.deep.equal(ids.bob);
    sql(`UPDATE processes SET state = 'exited', ended_at = 1 WHERE id = ?`, ids.alice[0]);
    expect((await list('alice')).map((p) => p.id), 'a process that ended leaves at once').to.deep.equal(ids.alice.slice(1));
    // a node's load report alone (no process row changes) gives the resident memory it says
    const a1 = db.q.processById.get(ids.alice[1]!)!;
    const load = { at: Date.now(), cpuCapacity: 1, cpuUsed: 0, memTotalBytes: 1 << 30, memFreeBytes: 1 << 29, running: 1, procs: [{ id: a1.id, epoch: a1.epoch, cpuSeconds: 0, cpuRate: 0, cpuDemand: 0, ioBytesPerS: 0, rssBytes: 123_456_789 }] };
    db.q.setNodeLoad.run({ name: a1.node, at: Date.now(), load: JSON.stringify(load) });
    expect((await list('alice')).find((p) => p.id === a1.id)?.memBytes, 'memBytes of the latest report').to.equal(123_456_789);
    expect((await list('bob')).map((p) => p.id)).to.deep.equal(ids.bob);
  });

  it('pages and filters migrations: state, node (from or to), since, owner; only the caller’s', async () => {
    const insert = (processId: number, from: string, to: string, state: string, startedAt: number) =>
      Number(
        c.app.godwit.ctx.db.q.insertMigration.run({
          process_id: processId, from_node: from, to_node: to, strategy: 'full', strategy_reason: null, steps: '[]', from_epoch: 0, started_at: startedAt,
        }).lastInsertRowid,
      );
    const [a0, a1] = ids.alice as [number, number];
    const m1 = insert(a0, 'node0', 'node1', 'done', 1000);
    const m2 = insert(a1, 'node1', 'node0', 'failed', 2000);
    const mb = insert(ids.bob[0]!, 'node0', 'node1', 'done', 3000);
    const m3 = insert(a0, 'node0', 'node1', 'done', 4000);
    sql(`UPDATE migrations SET state = 'done' WHERE id IN (?, ?, ?)`, m1, mb, m3);
    sql(`UPDATE migrations SET state = 'failed' WHERE id = ?`, m2);
    const list = async (user: User, q: string) => {
      const res = await c.req(user, 'GET', `/v1/migrations?${q}`);
      expect(res.status, `${q}: ${res.body}`).to.equal(200);
      return res.json.map((m: { id: number }) => m.id);
    };
    expect(await pages('alice', '/v1/migrations?limit=2')).to.deep.equal([[m1, m2], [m3]]);
    expect(await list('alice', 'state=done')).to.deep.equal([m1, m3]);
    expect(await list('alice', 'state=failed,frozen')).to.deep.equal([m2]);
    expect(await list('alice', 'node=node1')).to.deep.equal([m1, m2, m3]);
    expect(await list('alice', 'since=1500')).to.deep.equal([m2, m3]);
    expect(await list('bob', '')).to.deep.equal([mb]);
    expect(await list('root', '')).to.deep.equal([m1, m2, mb, m3]);
    expect(await list('root', 'owner=bob&state=done')).to.deep.equal([mb]);
    expect((await c.req('alice', 'GET', '/v1/migrations?owner=bob')).status).to.equal(403);
  });

  it('pages and filters events: cursor, after, kind, node, process, since; only the caller’s processes’', async () => {
    const { db } = c.app.godwit.ctx;
    const a0 = ids.alice[0]!;
    for (let i = 0; i < 5; i++) db.event({ processId: a0, node: 'node1', kind: 'test-mark', message: `mark ${i}` });
    db.event({ processId: ids.bob[0]!, node: 'node1', kind: 'test-mark', message: 'bob mark' });
    db.event({ node: 'node1', kind: 'node-note', message: 'about the node alone' });
    const marks = await pages('alice', '/v1/events?kind=test-mark&limit=2');
    expect(marks.map((p) => p.length), 'pages of 2').to.deep.equal([2, 2, 1]);
    const all = (await c.req('alice', 'GET', '/v1/events?kind=test-mark')).json;
    expect(all.map((e: { message: string }) => e.message)).to.deep.equal(['mark 0', 'mark 1', 'mark 2', 'mark 3', 'mark 4']);
    expect(marks.flat()).to.deep.equal(all.map((e: { id: number }) => e.id));
    const after = await c.req('alice', 'GET', `/v1/events?kind=test-mark&after=${all[2].id}`);
    expect(after.json.map((e: { message: string }) => e.message)).to.deep.equal(['mark 3', 'mark 4']);
    const onNode1 = (await c.req('alice', 'GET', '/v1/events?node=node1')).json;
    expect(onNode1.every((e: { processId: number; node: string }) => ids.alice.includes(e.processId) && e.node === 'node1'), JSON.stringify(onNode1)).to.equal(true);
    expect(onNode1.map((e: { message: string }) => e.message)).to.include.members(['mark 0', 'mark 4']);
    const started = (await c.req('alice', 'GET', `/v1/events?process=${ids.alice[1]}&kind=started`)).json;
    expect(started.map((e: { processId: number }) => e.processId)).to.deep.equal([ids.alice[1]]);
    expect((await c.req('alice', 'GET', `/v1/events?since=${Date.now() + 60_000}`)).json).to.deep.equal([]);
    // bob sees his own, never alice's nor the node's; the administrator everything
    const bobs = (await c.req('bob', 'GET', '/v1/events?limit=1000')).json;
    expect(bobs.length).to.be.greaterThan(0);
    expect(bobs.every((e: { processId: number }) => ids.bob.includes(e.processId)), JSON.stringify(bobs)).to.equal(true);
    const roots = (await c.req('root', 'GET', '/v1/events?node=node1')).json.map((e: { message: string }) => e.message);
    expect(roots).to.include.members(['bob mark', 'about the node alone', 'mark 0']);
    expect((await c.req('root', 'GET', '/v1/events?owner=bob&kind=test-mark')).json.map((e: { message: string }) => e.message)).to.deep.equal(['bob mark']);
  });

  it('refuses bad parameters with 400 in the error shape, saying which', async () => {
    const cursorOfProcesses = (await c.req('alice', 'GET', '/v1/processes?limit=1')).headers[NEXT_CURSOR_HEADER] as string;
    const bad: [string, string][] = [
      ['/v1/processes?limit=0', 'limit'],
      ['/v1/processes?limit=1001', 'limit'],
      ['/v1/processes?limit=ten', 'limit'],
      ['/v1/processes?cursor=not%20a%20cursor', 'cursor'],
      ['/v1/processes?cursor=bm9wZQ', 'cursor'],
      [`/v1/migrations?cursor=${cursorOfProcesses}`, 'cursor'],
      [`/v1/events?cursor=${cursorOfProcesses}`, 'cursor'],
      ['/v1/processes?state=sleeping', 'state'],
      ['/v1/processes?state=running,', 'state'],
      ['/v1/migrations?state=running', 'state'],
      ['/v1/processes?node=Node%201', 'node'],
      ['/v1/processes?since=-1', 'since'],
      ['/v1/processes?since=yesterday', 'since'],
      ['/v1/events?after=x', 'after'],
      ['/v1/events?kind=Bad%20Kind', 'kind'],
      ['/v1/processes?page=2', 'page'],
    ];
    for (const [url, what] of bad) {
      const res = await c.req('alice', 'GET', url);
      expect(res.status, `${url}: ${res.body}`).to.equal(400);
      expect(res.json, url).to.include({ code: 'GODWIT_ERR_BAD_REQUEST', statusCode: 400, error: 'Bad Request' });
      expect(res.json.message, url).to.contain(what);
    }
    const header = await c.app.inject({ method: 'GET', url: '/v1/events?follow=true', headers: { authorization: `Bearer ${TOKENS.alice}`, 'last-event-id': 'abc' } });
    expect(header.statusCode, header.body).to.equal(400);
    expect(header.json().code).to.equal('GODWIT_ERR_BAD_REQUEST');
  });

  /** a watch stream over real HTTP: the events it has given, and how to leave */
  function follow(user: User, query: string, lastEventId?: number) {
    const got: { id: number; processId: number | null; message: string }[] = [];
    const ids: number[] = [];
    /** `gap` events, and how many events had come before each */
    const gaps: { gap: EventGap; after: number }[] = [];
    let status = 0;
    let contentType = '';
    const req = http.get(`${c.url}/v1/events?follow=true${query}`, {
      headers: { authorization: `Bearer ${TOKENS[user]}`, ...(lastEventId !== undefined ? { 'last-event-id': String(lastEventId) } : {}) },
    });
    let pending = '';
    req.on('response', (res) => {
      status = res.statusCode ?? 0;
      contentType = String(res.headers['content-type']);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        pending += chunk;
        let end: number;
        while ((end = pending.indexOf('\n\n')) >= 0) {
          const block = pending.slice(0, end);
          pending = pending.slice(end + 2);
          const id = /^id: (\d+)$/m.exec(block);
          const data = /^data: (.*)$/m.exec(block);
          if (/^event: gap$/m.test(block) && data) gaps.push({ gap: JSON.parse(data[1]!), after: got.length });
          else if (id && data) {
            ids.push(Number(id[1]));
            got.push(JSON.parse(data[1]!));
          }
        }
      });
    });
    req.on('error', () => {});
    return { got, ids, gaps, status: () => status, contentType: () => contentType, leave: () => req.destroy() };
  }

  it('streams events as they happen to a watcher, only its own, resuming from Last-Event-ID without a gap or a duplicate', async () => {
    const { db } = c.app.godwit.ctx;
    const alice = follow('alice', '&kind=test-mark');
    const bob = follow('bob', '');
    await waitFor(() => alice.status() && bob.status(), 'both streams answered');
    expect(alice.status()).to.equal(200);
    expect(alice.contentType()).to.contain('text/event-stream');
    const a0 = ids.alice[0]!;
    for (let i = 0; i < 3; i++) db.event({ processId: a0, node: 'node0', kind: 'test-mark', message: `mark ${i}` });
    await waitFor(() => alice.got.length >= 3, 'alice sees 3 marks', 5000, () => alice.got);
    expect(alice.got.map((e) => e.message)).to.deep.equal(['mark 0', 'mark 1', 'mark 2']);
    alice.leave();
    // recorded while alice is away
    for (let i = 3; i < 6; i++) db.event({ processId: a0, node: 'node0', kind: 'test-mark', message: `mark ${i}` });
    const back = follow('alice', '&kind=test-mark', alice.ids[alice.ids.length - 1]);
    await waitFor(() => back.got.length >= 3, 'the missed marks after resuming', 5000, () => back.got);
    db.event({ processId: a0, node: 'node0', kind: 'test-mark', message: 'mark 6' });
    await waitFor(() => back.got.length >= 4, 'a new mark after resuming', 5000, () => back.got);
    expect(back.got.map((e) => e.message), 'resumed: no gap, nothing twice').to.deep.equal(['mark 3', 'mark 4', 'mark 5', 'mark 6']);
    // ?after= resumes as the header does
    const again = follow('alice', `&kind=test-mark&after=${back.ids[1]}`);
    await waitFor(() => again.got.length >= 2, 'resumed by ?after', 5000, () => again.got);
    expect(again.got.map((e) => e.message)).to.deep.equal(['mark 5', 'mark 6']);
    // bob's stream carried none of alice's events
    const mine = await start('bob');
    await waitFor(() => bob.got.some((e) => e.processId === mine), "bob sees his own process's start", 5000, () => bob.got);
    expect(bob.got.every((e) => ids.bob.includes(e.processId!)), JSON.stringify(bob.got)).to.equal(true);
    for (const s of [back, again, bob]) s.leave();
    const none = await c.app.inject({ method: 'GET', url: '/v1/events?follow=true' });
    expect(none.statusCode, 'no token').to.equal(401);
  });

  it('tells a watcher resuming after pruned events of the gap, naming the first it can give; nothing for a start by time', async () => {
    const { db } = c.app.godwit.ctx;
    const a0 = ids.alice[0]!;
    const mark = (i: number) => db.event({ processId: a0, node: 'node0', kind: 'test-mark', message: `mark ${i}` });
    const alice = follow('alice', '&kind=test-mark');
    await waitFor(() => alice.status(), 'the stream answered');
    for (let i = 0; i < 3; i++) mark(i);
    await waitFor(() => alice.got.length >= 3, 'alice sees 3 marks', 5000, () => alice.got);
    alice.leave();
    expect(alice.gaps, 'no gap while nothing was pruned').to.deep.equal([]);
    for (let i = 3; i < 6; i++) mark(i);
    // only the newest event is kept: marks 3 and 4 go unread
    expect(pruneEvents(db, { eventsKeepDays: 365, eventsKeepCount: 1 }, Date.now())).to.be.greaterThan(2);
    const kept = db.q.lastEventId.get()!.id!;
    const lastRead = alice.ids[2]!;
    const back = follow('alice', '&kind=test-mark', lastRead);
    await waitFor(() => back.got.length >= 1, 'the kept mark after resuming', 5000, () => ({ got: back.got, gaps: back.gaps }));
    mark(6);
    await waitFor(() => back.got.length >= 2, 'a new mark', 5000, () => back.got);
    expect(back.gaps.map((g) => ({ after: g.after, from: g.gap.after, firstKept: g.gap.firstKept }))).to.deep.equal([{ after: 0, from: lastRead, firstKept: kept }]);
    expect(back.gaps[0]!.gap.message).to.contain(`events ${lastRead + 1} to ${kept - 1} were pruned`).and.contain(`goes on from event ${kept}`);
    expect(back.got.map((e) => e.message), 'then on without a second notice').to.deep.equal(['mark 5', 'mark 6']);
    // a stream from a time asked for no id: what was pruned before it is no gap of its own
    const byTime = follow('alice', '&kind=test-mark&since=0');
    await waitFor(() => byTime.got.length >= 2, 'the kept marks from a time', 5000, () => byTime.got);
    expect(byTime.gaps).to.deep.equal([]);
    for (const s of [back, byTime]) s.leave();
  });

  it('documents the lists’ filters and paging header in OpenAPI', async () => {
    const doc = (await c.app.inject({ method: 'GET', url: '/v1/openapi.json' })).json();
    for (const path of ['/v1/processes', '/v1/migrations', '/v1/events']) {
      const op = doc.paths[path].get;
      const params = op.parameters.map((p: { name: string }) => p.name);
      expect(params, path).to.include.members(['limit', 'cursor', 'node', 'owner', 'since']);
      expect(JSON.stringify(op.responses['200']), path).to.contain(NEXT_CURSOR_HEADER);
    }
    expect(doc.paths['/v1/events'].get.parameters.map((p: { name: string }) => p.name)).to.include.members(['follow', 'after', 'last-event-id']);
  });
});
