/**
 * An agent over real mutual TLS that refuses an upload before it has read it all (no credential,
 * a body too large, images whose seal fails part-way) gets its error to the client, in the one
 * shape with its code, every time: before, the connection was reset or hung and the client saw
 * ECONNRESET. Each refusal is tried many times: one success could be luck of timing.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { type AgentConfig, GodwitError } from '@godwit/schemas';
import { type ClientTls, clientAgent, type Fetch, fetchOver } from '@godwit/schemas/tls';
import { makeClusterCerts } from '../../../cli/src/cluster/certs.js';
import { type Agent, buildAgent } from '../../../agent/src/app.js';
import { sendImages } from '../../../agent/src/image-transfer.js';

const ROUNDS = 12;
/** far more than the socket buffers hold, so the refusal comes while the client still sends */
const UPLOAD = 8 << 20;
const TOKEN = 'node1-token-0123456789abcdef';

describe('an upload refused before it is read reaches the client as the error, over TLS', function () {
  this.timeout(300_000);
  let dir: string;
  let agent: Agent;
  let base: URL;
  let asOrchestrator: ClientTls;
  let asNode0: ClientTls;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'godwit-early-answer-'));
    const certs = await makeClusterCerts(join(dir, 'tls'), { orchestratorAddress: '127.0.0.1', nodes: [{ name: 'node0', address: '127.0.0.1' }, { name: 'node1', address: '127.0.0.1' }] });
    const read = (f: { certFile: string; keyFile: string }): ClientTls => ({ ca: readFileSync(certs.caFile), cert: readFileSync(f.certFile), key: readFileSync(f.keyFile) });
    asOrchestrator = read(certs.orchestrator);
    asNode0 = read(certs.nodes.get('node0')!);
    const node1 = certs.nodes.get('node1')!;
    const keyFile = join(dir, 'cluster.key');
    writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
    mkdirSync(join(dir, 'checkpoints'));
    // a keeper that starts nothing: no program runs here
    mkdirSync(join(dir, 'bin'));
    symlinkSync('/bin/false', join(dir, 'bin', 'godwit-keeper'));
    const config: AgentConfig = {
      node: 'node1',
      listen: { host: '127.0.0.1', port: 0 },
      url: 'https://127.0.0.1:1',
      token: TOKEN,
      clusterKeyFile: keyFile,
      orchestrator: { url: 'https://127.0.0.1:1' },
      dataDir: join(dir, 'data'),
      criuPath: fileURLToPath(new URL('../../fixtures/fake-criu', import.meta.url)),
      keeperPath: join(dir, 'bin', 'godwit-keeper'),
      tiniPath: '/bin/false',
      cgroups: [],
      checkpointDir: join(dir, 'checkpoints'),
      tls: { caFile: certs.caFile, certFile: node1.certFile, keyFile: node1.keyFile },
    };
    agent = await buildAgent(config, { logger: false, tls: { ca: readFileSync(certs.caFile), cert: readFileSync(node1.certFile), key: readFileSync(node1.keyFile) } });
    base = new URL(await agent.app.listen({ host: '127.0.0.1', port: 0 }));
  });
  after(async () => {
    await agent?.app.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** the credential node1 gives for migration `mid`, asked as the orchestrator asks */
  async function credentialFor(mid: number): Promise<string> {
    const res = await fetchOver(asOrchestrator)(new URL(`/v1/images/${mid}/expect`, base), { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
    const body = (await res.json()) as { credential: string };
    expect(res.status, JSON.stringify(body)).to.equal(200);
    return body.credential;
  }

  /** each round's outcome: "STATUS CODE" or "failed: ERRNO" */
  async function tally(what: (round: number) => Promise<string>): Promise<Record<string, number>> {
    const seen: Record<string, number> = {};
    for (let round = 0; round < ROUNDS; round++) {
      const outcome = await what(round).catch((err: NodeJS.ErrnoException) => `failed: ${err.code ?? err.message}`);
      seen[outcome] = (seen[outcome] ?? 0) + 1;
    }
    return seen;
  }

  it('a body sent whole (content-length): refused credentials, a body too large, images that fail their seal; the connection serves the next call', async () => {
    // one client for each kind of refusal: its kept-alive connection must serve each next call
    const put = async (send: Fetch, path: string, headers: Record<string, string>): Promise<string> => {
      const res = await send(new URL(path, base), { method: 'PUT', headers, body: randomBytes(UPLOAD) });
      const text = await res.text();
      const code = (JSON.parse(text) as { code?: string }).code;
      const next = await send(new URL('/v1/images/1/lazy', base), { headers: { authorization: 'Bearer none' } });
      await next.arrayBuffer();
      return `${res.status} ${code}, then ${next.status}`;
    };
    const tar = { 'content-type': 'application/x-tar' };
    const source = fetchOver(asNode0);
    expect(await tally(() => put(source, '/v1/images/7', { ...tar, authorization: 'Bearer not-a-credential' })), 'no credential').to.deep.equal({ '401 GODWIT_ERR_UNAUTHORIZED, then 401': ROUNDS });
    // the node's token counts only with the orchestrator's certificate
    const orchestrator = fetchOver(asOrchestrator);
    expect(await tally(() => put(orchestrator, '/v1/procs/1/control', { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` })), 'too large').to.deep.equal({ '413 GODWIT_ERR_TOO_LARGE, then 401': ROUNDS });
    expect(
      await tally(async (round) => put(source, `/v1/images/${100 + round}`, { ...tar, authorization: `Bearer ${await credentialFor(100 + round)}` })),
      'images not sealed by godwit',
    ).to.deep.equal({ '422 GODWIT_ERR_BAD_IMAGES, then 401': ROUNDS });
  });

  it("a stream the agents' own sender sends: images sealed with another key are refused part-way, the sender says so at once", async () => {
    const wrongKey = randomBytes(32);
    const http = clientAgent(asNode0);
    const outcomes = await tally(async (round) => {
      const mid = 200 + round;
      const credential = await credentialFor(mid);
      // more images than one answer's worth of time: the refusal must end the sending
      const pack = Readable.from((function* () {
        for (let i = 0; i < 64; i++) yield randomBytes(UPLOAD / 8);
      })());
      try {
        await sendImages(pack, wrongKey, mid, { url: base.href, credential }, { agent: http });
        return 'accepted';
      } catch (err) {
        return err instanceof GodwitError ? `${err.statusCode} ${err.code}` : `failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
      }
    });
    expect(outcomes).to.deep.equal({ '422 GODWIT_ERR_BAD_IMAGES': ROUNDS });
  });
});
