/** An agent's API fuzzed through inject (agent-target.ts): no answer is a 5xx, and every error is in the one shape. */
import { expect } from 'chai';
import { type FuzzAgent, agentTarget, AGENT_TOKEN, startFuzzAgent } from './agent-target.js';
import { fuzz } from './run-fuzz.js';
import { suiteTimeoutMs } from './settings.js';

describe('fuzzing the agent API', function () {
  this.timeout(suiteTimeoutMs('agent'));
  let a: FuzzAgent;
  before(async () => {
    a = await startFuzzAgent();
  });
  after(async () => a?.close());

  it('answers every generated request without a 5xx, in the one error shape', async () => {
    const target = agentTarget(a);
    const figures = await fuzz(target);
    expect(figures.requests).to.equal(target.runs);
    const list = await a.agent.app.inject({ method: 'GET', url: '/v1/procs', headers: { authorization: AGENT_TOKEN } });
    expect(list.statusCode, `the agent still answers after the fuzz: ${list.body}`).to.equal(200);
  });
});
