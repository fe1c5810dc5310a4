/**
 * The orchestrator the fuzz suite sends to: a real one on a scratch database, with fake agents,
 * three processes (ended, so that nothing moves or streams on its own), good and bad credentials.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import type { Process } from '@godwit/schemas';
import { type Cluster, TOKENS, waitFor } from '../orchestrator/harness.js';
import { watchChanges } from './db-changes.js';
import type { FuzzTarget } from './run-fuzz.js';
import { runsFor } from './settings.js';

/** the fuzzed processes: alice's 1 (with checkpoint ck.1) and 2, bob's 3; 999999 is nobody's */
const PROCESS_IDS = ['1', '2', '3', '999999'];

export async function orchestratorTarget(c: Cluster): Promise<FuzzTarget> {
  const run = async (user: 'alice' | 'bob', body: object) => {
    const res = await c.req(user, 'POST', '/v1/processes', { argv: ['prog'], cwd: '/tmp', ...body });
    expect(res.status, res.body).to.equal(201);
    return (res.json as Process).id;
  };
  const first = await run('alice', { checkpoint: { file: 'ck' } });
  const took = await c.req('alice', 'POST', `/v1/processes/${first}/checkpoint`, {});
  expect(took.status, took.body).to.be.lessThan(300);
  await run('alice', { node: 'node1' });
  await run('bob', {});

  const db = () => c.app.godwit.ctx.db.raw;
  /** ends whatever runs on the fake agents, so that nothing is left to move, checkpoint or follow */
  const settle = async () => {
    await c.app.godwit.migrator.idle(5000);
    for (const a of c.agents) {
      for (const e of [...a.epochs.values()]) if (e.proc.state === 'running' && !e.ended) a.exit(e.proc.id, 0);
    }
    await waitFor(noneRunning, 'every fuzzed process to have ended', 5000, () => runningRows());
    await c.app.godwit.migrator.idle(5000);
  };
  const runningRows = () => db().prepare(`SELECT id, state FROM processes WHERE state IN ('running', 'migrating')`).all();
  const noneRunning = () => runningRows().length === 0;
  await settle();

  const nodeNames = fc.constantFrom('node0', 'node1', 'node2', 'home', 'nodex');
  const bearer = (t: string) => `Bearer ${t}`;
  return {
    name: 'orchestrator',
    app: () => c.app,
    runs: runsFor('orchestrator'),
    space: {
      routes: c.app.routeList,
      auth: fc.oneof(
        { arbitrary: fc.constantFrom(bearer(TOKENS.alice), bearer(TOKENS.bob), bearer(TOKENS.root), bearer(c.agents[0]!.token)), weight: 4 },
        { arbitrary: fc.constantFrom(bearer('wrong-token-0123456789'), `Basic ${Buffer.from('alice:x').toString('base64')}`, 'Bearer', '', undefined), weight: 1 },
      ),
      extraHeaders: fc.constantFrom<Record<string, string>>({}, {}, {}, { 'x-godwit-account': 'alice' }, { 'x-godwit-account': 'root' }, { 'x-godwit-account': '../x' }),
      hints: {
        id: fc.constantFrom(...PROCESS_IDS),
        process: fc.constantFrom(...PROCESS_IDS),
        name: nodeNames,
        node: nodeNames,
        homeNode: nodeNames,
        to: nodeNames,
        file: fc.constantFrom('ck.1', 'ck.2', '/tmp/none.1', '../ck.1'),
        cwd: fc.constantFrom('/tmp', '/'),
        argv: fc.constant(['prog']),
        offset: fc.nat(64),
      },
    },
    state: watchChanges(db()),
    settle,
  };
}

