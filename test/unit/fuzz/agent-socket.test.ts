/**
 * The agents' websocket to the orchestrator fuzzed: a node's connection sends malformed frames
 * (text that is no JSON, JSON of no known shape, reports almost right, binary). The orchestrator
 * passes them over: it stays up, no rejection goes unhandled, and none changes the database.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import WebSocket from 'ws';
import { AgentHello, AgentLoadMessage } from '@godwit/schemas';
import Value from 'typebox/value';
import { type Cluster, startCluster } from '../orchestrator/harness.js';
import { watchChanges } from './db-changes.js';
import { malformed, wellFormed } from './schema-arbitrary.js';
import { watchRejections } from './run-fuzz.js';
import { FUZZ_SEED, REQUEST_DEADLINE_MS, runsFor, suiteTimeoutMs } from './settings.js';

const frameArb: fc.Arbitrary<string | Buffer> = fc.oneof(
  fc.string({ maxLength: 64 }),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  malformed(AgentHello as never).map((v) => JSON.stringify(v) ?? 'null'),
  malformed(AgentLoadMessage as never).map((v) => JSON.stringify(v) ?? 'null'),
  wellFormed(AgentLoadMessage as never).map((v) => JSON.stringify({ ...(v as object), type: 'hello' })),
);

/** resolves once the orchestrator has read everything sent before: it answers a ping in order */
function flushed(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no pong in ${REQUEST_DEADLINE_MS} ms: the orchestrator stopped reading the socket`)), REQUEST_DEADLINE_MS);
    ws.once('pong', () => {
      clearTimeout(timer);
      resolve();
    });
    ws.ping();
  });
}

describe("fuzzing the agents' websocket to the orchestrator", function () {
  this.timeout(suiteTimeoutMs('frames'));
  let c: Cluster;
  before(async () => {
    c = await startCluster({ nodes: 3, nodeTimeoutMs: 60_000 });
  });
  after(async () => c?.close());

  it('passes over malformed frames: no crash, no unhandled rejection, the database unchanged', async () => {
    // node2's token: its fake agent's connection is superseded, the others report on
    const ws = new WebSocket(`${c.url.replace(/^http/, 'ws')}/v1/agents/ws`, { headers: { authorization: `Bearer ${c.agents[2]!.token}` } });
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    const changes = watchChanges(c.app.godwit.ctx.db.raw);
    const watch = watchRejections();
    watch.start();
    let frames = 0;
    try {
      await fc.assert(
        fc.asyncProperty(frameArb, async (frame) => {
          const text = Buffer.isBuffer(frame) ? undefined : frame;
          let parsed: unknown;
          try {
            parsed = text === undefined ? undefined : JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          // a well-formed report is no refusal: it may change what the database says of node2
          if (Value.Check(AgentHello, parsed) || Value.Check(AgentLoadMessage, parsed)) return;
          const before = changes();
          ws.send(frame);
          await flushed(ws);
          frames++;
          expect(ws.readyState, `the socket after ${JSON.stringify(String(frame)).slice(0, 200)}`).to.equal(WebSocket.OPEN);
          expect(changes(), `rows written after frame ${JSON.stringify(String(frame)).slice(0, 200)}`).to.equal(before);
          watch.check();
        }),
        { seed: FUZZ_SEED, numRuns: runsFor('frames'), endOnFailure: true },
      );
    } finally {
      watch.stop();
      ws.close();
      console.log(`      fuzz agent websocket (seed ${FUZZ_SEED}): ${frames} malformed frames, the socket open after each`);
    }
    const whoami = await c.req('alice', 'GET', '/v1/whoami');
    expect(whoami.status, `the orchestrator still answers: ${whoami.body}`).to.equal(200);
  });
});
