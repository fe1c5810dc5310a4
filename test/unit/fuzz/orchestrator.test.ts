/**
 * The orchestrator's API fuzzed through inject (orchestrator-target.ts): every route it lists,
 * input well-formed and malformed. No answer is a 5xx, every error is in the one shape, and a
 * refused request leaves the database as it was.
 */
import { expect } from 'chai';
import { type Cluster, startCluster } from '../orchestrator/harness.js';
import { orchestratorTarget } from './orchestrator-target.js';
import { fuzz } from './run-fuzz.js';
import { suiteTimeoutMs } from './settings.js';

describe('fuzzing the orchestrator API', function () {
  this.timeout(suiteTimeoutMs('orchestrator'));
  let c: Cluster;
  before(async () => {
    // a loaded machine may keep the agents' reports waiting: the fuzz is not about nodes going offline
    c = await startCluster({ nodes: 3, nodeTimeoutMs: 60_000 });
  });
  after(async () => c?.close());

  it('answers every generated request without a 5xx, in the one error shape, the database unchanged by each refusal', async () => {
    const target = await orchestratorTarget(c);
    const figures = await fuzz(target);
    expect(figures.requests).to.equal(target.runs);
    const whoami = await c.req('alice', 'GET', '/v1/whoami');
    expect(whoami.status, `the orchestrator still answers after the fuzz: ${whoami.body}`).to.equal(200);
  });
});
