/**
 * A scheduler's watch on the cluster (GET /v1/events?follow=true): it sees a real migration's
 * events in the order they happened, resumes after a disconnect from the last event id it had
 * without a gap or a duplicate, and never sees another user's.
 */
import { expect } from 'chai';
import type { Event } from '@godwit/schemas';
import { api, cli, cluster, eventually, type Harness, mosrun, processInfo, program } from './harness.js';

/** a watch stream as a scheduler reads it: the events so far, and how to leave */
function watch(h: Harness, token: string, lastEventId?: number) {
  const events: Event[] = [];
  const left = new AbortController();
  let failure: unknown;
  let status = 0;
  const reading = (async () => {
    const res = await h.fetch(new URL('/v1/events?follow=true', h.info.url), {
      headers: { authorization: `Bearer ${token}`, ...(lastEventId !== undefined ? { 'last-event-id': String(lastEventId) } : {}) },
      signal: left.signal,
    });
    status = res.status;
    const decoder = new TextDecoder();
    let pending = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      pending += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = pending.indexOf('\n\n')) >= 0) {
        const block = pending.slice(0, end);
        pending = pending.slice(end + 2);
        const data = /^data: (.*)$/m.exec(block);
        const id = /^id: (\d+)$/m.exec(block);
        if (data && id) {
          const e = JSON.parse(data[1]!) as Event;
          if (e.id !== Number(id[1])) throw new Error(`event ${e.id} came with id: ${id[1]}`);
          events.push(e);
        }
      }
    }
  })().catch((err: unknown) => {
    if (!left.signal.aborted) failure = err;
  });
  return {
    events,
    status: () => status,
    failure: () => failure,
    leave: async () => {
      left.abort();
      await reading;
    },
  };
}

describe('watching the cluster’s events', function () {
  let h: Harness;
  before(async function () {
    this.timeout(180_000);
    h = await cluster();
  });

  it('follows a real migration’s events in order, resumes after a disconnect without a gap or a duplicate, and shows a stranger nothing of them', async function () {
    this.timeout(240_000);
    const mine = watch(h, h.token);
    const stranger = watch(h, h.info.guest.token);
    await eventually(async () => (mine.status() && stranger.status() ? true : undefined), 'both watch streams to answer', 30_000);
    expect([mine.status(), stranger.status()]).to.deep.equal([200, 200]);
    const run = mosrun(h, [program('counter'), '600']);
    const id = await run.id();
    await run.waitFor(/^2$/m);
    const ofIt = (w: ReturnType<typeof watch>) => w.events.filter((e) => e.processId === id);
    const kinds = (es: Event[]) => es.map((e) => e.kind).join(', ');
    const move = async (to: string) => {
      const res = await cli(h, 'mosmigrate', [String(id), to]);
      expect(res.exitCode, `mosmigrate ${id} ${to}: ${res.stderr}`).to.equal(0);
    };

    await move('node1');
    await eventually(async () => (ofIt(mine).some((e) => e.kind === 'migrated') ? true : undefined), () => `the first move's migrated event; the watch saw: ${kinds(ofIt(mine))}`);
    const before = [...mine.events];
    await mine.leave();
    const lastSeen = before[before.length - 1]!.id;

    // while no one watches: a second move
    await move('node2');
    expect((await processInfo(h, id)).node).to.equal('node2');
    const back = watch(h, h.token, lastSeen);
    await eventually(async () => (ofIt(back).some((e) => e.kind === 'migrated') ? true : undefined), () => `the missed move's events after resuming; saw: ${kinds(ofIt(back))}`);
    // and a third with the watch back
    await move('home');
    await eventually(
      async () => (ofIt(back).filter((e) => e.kind === 'migrated').length >= 2 ? true : undefined),
      () => `the third move's migrated event; saw: ${kinds(ofIt(back))}`,
    );
    await back.leave();

    const seen = [...before, ...back.events];
    const ids = seen.map((e) => e.id);
    expect(new Set(ids).size, `no event twice: ${ids.join(' ')}`).to.equal(ids.length);
    expect([...ids].sort((a, b) => a - b), 'in the order they happened').to.deep.equal(ids);
    // the process's events as recorded, from the first the watch had: the same, none missing
    const recorded = (await api<Event[]>(h, 'GET', `/v1/events?process=${id}&after=${ofIt(mine)[0]!.id - 1}&limit=1000`)).body;
    const upTo = ids[ids.length - 1]!;
    expect(seen.filter((e) => e.processId === id).map((e) => `${e.id} ${e.kind}`), 'what the watch saw of the process, across the disconnect').to.deep.equal(
      recorded.filter((e) => e.id <= upTo).map((e) => `${e.id} ${e.kind}`),
    );
    expect(ofIt(mine).concat(ofIt(back)).filter((e) => e.kind === 'migrated').length, 'three moves seen').to.equal(3);
    expect(ofIt(mine).map((e) => e.kind)[0], 'the first event of the process is its start').to.equal('started');

    await stranger.leave();
    expect(stranger.failure(), 'the stranger’s stream ran until left').to.equal(undefined);
    expect(ofIt(stranger), "the guest's watch carried none of the user's events").to.deep.equal([]);
    expect(mine.failure() ?? back.failure(), 'no stream failed').to.equal(undefined);

    await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
    await run.child.catch(() => undefined);
  });
});
