/**
 * Many live processes (issue 23): a few hundred small sleepers spread over the nodes outlive a
 * killed orchestrator. Its successor reconciles them from one list per agent: every one running
 * where it ran, with the same host PID, none lost, none twice, and each still controllable.
 * bench:many does the same with 1,000 and times it.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import type { Process } from '@godwit/schemas';
import { api, cluster, crashAndRestart, eventually, type Harness } from './harness.js';

/** as many as start within a couple of minutes on a loaded two-core machine (about 2-4 a second) */
const COUNT = Number(process.env.GODWIT_TEST_MANY ?? 150);
const LAUNCHES_AT_ONCE = 6;
const SLEEPER = ['/usr/bin/sleep', '3600'];

/** every process of the caller's in these states, page by page */
async function listed(h: Harness, states: string): Promise<Process[]> {
  const out: Process[] = [];
  let cursor: string | null = null;
  do {
    const res: Response = await h.fetch(new URL(`/v1/processes?state=${states}&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, h.info.url), {
      headers: { authorization: `Bearer ${h.token}` },
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`GET /v1/processes answered ${res.status}: ${text}`);
    out.push(...(JSON.parse(text) as Process[]));
    cursor = res.headers.get('x-next-cursor');
  } while (cursor);
  return out;
}

/** the cluster's own events (no process's) are the administrator's to see */
const reconciledEvents = async (h: Harness) => {
  const res = await api<{ id: number; message: string }[]>(h, 'GET', '/v1/events?kind=reconciled', undefined, h.info.admin.token);
  if (res.status !== 200) throw new Error(`GET /v1/events?kind=reconciled answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
};

describe('many live processes', function () {
  let h: Harness;
  const started: number[] = [];

  before(async function () {
    this.timeout(180_000);
    h = await cluster();
  });

  after(async function () {
    this.timeout(300_000);
    if (!h) return;
    // each one started here ends, by its id (the agent signals its host PID)
    const left = new Set(started);
    for (const id of started) {
      const res = await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
      if (res.status >= 300) left.delete(id); // ended already
    }
    await eventually(async () => {
      const live = new Set((await listed(h, 'running,migrating,frozen')).map((p) => p.id));
      return [...left].every((id) => !live.has(id)) ? true : undefined;
    }, `the ${left.size} sleepers signalled to end`, 240_000);
  });

  it(`a restarted orchestrator finds all ${COUNT} sleepers running where they ran, none lost or twice, each controllable`, async function () {
    this.timeout(900_000);
    const nodes = h.info.nodes.map((n) => n.name);
    let next = 0;
    const failures: string[] = [];
    await Promise.all(Array.from({ length: LAUNCHES_AT_ONCE }, async () => {
      while (next < COUNT && failures.length === 0) {
        const i = next++;
        const res = await api<Process>(h, 'POST', '/v1/processes', { argv: SLEEPER, cwd: '/', node: nodes[i % nodes.length] });
        if (res.status === 201) started.push(res.body.id);
        else failures.push(`launch ${i} on ${nodes[i % nodes.length]} answered ${res.status}: ${JSON.stringify(res.body)}`);
      }
    }));
    expect(failures, `after ${started.length} started`).to.deep.equal([]);
    const mine = new Set(started);
    const before = await eventually(async () => {
      const running = (await listed(h, 'running')).filter((p) => mine.has(p.id));
      return running.length === COUNT && running.every((p) => p.pid !== null) ? running : undefined;
    }, `all ${COUNT} sleepers listed running with their host PIDs`, 120_000);
    for (const [k, n] of nodes.entries()) expect(before.filter((p) => p.node === n).length, `sleepers on ${n}`).to.equal(Math.ceil((COUNT - k) / nodes.length));
    const eventsBefore = (await reconciledEvents(h)).length;

    await crashAndRestart(h, 'orchestrator');

    let seen = '';
    const reconciled = await eventually(async () => {
      const events = await reconciledEvents(h);
      seen = events.map((e) => e.message).join('; ');
      return events.length > eventsBefore ? events.at(-1)! : undefined;
    }, () => `the restarted orchestrator's reconciled event (${eventsBefore} before it; seen: ${seen || 'none'})`, 120_000);
    expect(reconciled.message).to.match(/\d+ live process/);
    const after = (await listed(h, 'running,migrating,frozen,exited,lost')).filter((p) => mine.has(p.id));
    const ids = after.map((p) => p.id);
    expect(new Set(ids).size, 'each sleeper listed once').to.equal(ids.length);
    const was = new Map(before.map((p) => [p.id, p]));
    const changed = after.filter((p) => p.state !== 'running' || p.node !== was.get(p.id)!.node || p.pid !== was.get(p.id)!.pid);
    expect(changed.map((p) => `${p.id}: ${p.state} on ${p.node} as ${p.pid} (was on ${was.get(p.id)!.node} as ${was.get(p.id)!.pid})`), 'sleepers not running as before').to.deep.equal([]);
    expect(after.length, 'sleepers listed').to.equal(COUNT);
    // one copy each: the host PIDs are distinct and alive (the nodes share the host's PID space)
    expect(new Set(after.map((p) => p.pid)).size, 'distinct host PIDs').to.equal(COUNT);
    expect(after.filter((p) => !existsSync(`/proc/${p.pid}`)).map((p) => `${p.id} as ${p.pid}`), 'sleepers whose host PID is gone').to.deep.equal([]);

    // still controllable: one on each node is signalled, and its end arrives
    const signalled = nodes.map((n) => after.find((p) => p.node === n)!);
    for (const p of signalled) {
      const res = await api(h, 'POST', `/v1/processes/${p.id}/signal`, { signal: 'SIGTERM' });
      expect(res.status, `signal to ${p.id}: ${JSON.stringify(res.body)}`).to.equal(204);
    }
    for (const p of signalled) {
      const ended = await eventually(async () => {
        const r = await api<Process>(h, 'GET', `/v1/processes/${p.id}`);
        return r.status === 200 && r.body.state === 'exited' ? r.body : undefined;
      }, `sleeper ${p.id} on ${p.node} to be listed exited after SIGTERM`, 60_000);
      expect(ended.exitSignal, `sleeper ${p.id}'s end`).to.equal('SIGTERM');
    }
  });
});
