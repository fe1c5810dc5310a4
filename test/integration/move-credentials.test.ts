/**
 * Issue 19's per-move credential, tried for real against node1's agent: images reach a
 * destination only with the credential it gave the orchestrator for that one move, once. A
 * stranger on the network, another user of a node, and a source holding a node's token (as every
 * source did before) are all refused, and nothing of what they sent is kept; a move still works.
 * Page servers listen within the configured port range.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { execa } from 'execa';
import { type AgentConfig, DEFAULT_PAGE_SERVER_PORTS, type ExpectResult, type PageServer } from '@godwit/schemas';
import { type Fetch, fetchOver } from '@godwit/schemas/tls';
import { api, cli, cluster, eventually, mosrun, processInfo, program, type Harness } from './harness.js';

// far above the ids the orchestrator gives its own moves in a test run
const MID = { refused: 900_001, mine: 900_002, other: 900_003, guest: 900_004, pages: 900_005 };

describe("move credentials: a destination takes a move's images only with the credential it gave for it", function () {
  let h: Harness;
  let node0: AgentConfig;
  let node1: AgentConfig;
  /** what node0's agent shows node1's: its certificate, of the cluster's CA (agents take no other caller) */
  let asNode0: Fetch;
  /** what the orchestrator shows an agent: its own certificate, with which alone a node's token counts */
  let asOrchestratorCert: Fetch;
  const configOf = (name: string) => JSON.parse(readFileSync(join(h.home, 'nodes', name, 'config.json'), 'utf8')) as AgentConfig;

  /** node1's agent, called as the orchestrator does (its certificate, node1's token) */
  async function asOrchestrator(method: string, path: string): Promise<Response> {
    return asOrchestratorCert(new URL(path, node1.url), { method, headers: { authorization: `Bearer ${node1.token}` } });
  }
  async function expectMove(mid: number): Promise<string> {
    const res = await asOrchestrator('POST', `/v1/images/${mid}/expect`);
    const body = (await res.json()) as ExpectResult;
    expect(res.status, JSON.stringify(body)).to.equal(200);
    return body.credential;
  }
  /** PUT /v1/images/MID on node1, as a move's source sends images; bearer: what it presents */
  async function push(mid: number, bearer: string | undefined): Promise<{ status: number; code: string; message: string }> {
    const res = await asNode0(new URL(`/v1/images/${mid}`, node1.url), {
      method: 'PUT',
      headers: { ...(bearer !== undefined ? { authorization: `Bearer ${bearer}` } : {}), 'content-type': 'application/x-tar' },
      // small enough to be sent whole before the agent answers: over TLS, an upload the agent
      // refuses part way is cut with a reset, which a client may see before the answer
      body: randomBytes(4096),
    });
    const body = (await res.json()) as { code: string; message: string };
    return { status: res.status, code: body.code, message: body.message };
  }
  async function imagesHeld(mid: number): Promise<boolean> {
    const res = await asOrchestrator('GET', `/v1/images/${mid}`);
    await res.arrayBuffer();
    return res.status === 200;
  }

  before(async function () {
    this.timeout(180_000);
    h = await cluster();
    node0 = configOf('node0');
    node1 = configOf('node1');
    if (!node0.tls) throw new Error(`node0's configuration has no tls: ${JSON.stringify(node0)}`);
    asNode0 = fetchOver({ ca: readFileSync(node0.tls.caFile), cert: readFileSync(node0.tls.certFile), key: readFileSync(node0.tls.keyFile) });
    const tlsDir = dirname(node0.tls.certFile);
    asOrchestratorCert = fetchOver({ ca: readFileSync(node0.tls.caFile), cert: readFileSync(join(tlsDir, 'orchestrator.crt')), key: readFileSync(join(tlsDir, 'orchestrator.key')) });
  });
  after(async () => {
    // ends what the tests asked node1 for: the credentials they left and the page server
    for (const mid of Object.values(MID)) await (await asOrchestrator('DELETE', `/v1/images/${mid}`)).arrayBuffer();
  });

  it("refuses images sent with no credential, a made-up one, another node's token or its own", async function () {
    this.timeout(60_000);
    await expectMove(MID.refused);
    const tries: [string, string | undefined][] = [
      ['nothing', undefined],
      ['a made-up credential', randomBytes(32).toString('hex')],
      ["node0's token (what a source held before)", node0.token],
      ["node1's own token", node1.token],
    ];
    for (const [what, bearer] of tries) {
      const res = await push(MID.refused, bearer);
      expect(res, what).to.include({ status: 401, code: 'GODWIT_ERR_UNAUTHORIZED' });
    }
    expect(await imagesHeld(MID.refused), 'images kept from those tries').to.equal(false);
  });

  it("refuses another migration's credential, and a credential used once already", async function () {
    this.timeout(60_000);
    const mine = await expectMove(MID.mine);
    await expectMove(MID.other);
    const crossed = await push(MID.other, mine);
    expect(crossed, "migration 900002's credential for 900003").to.include({ status: 401, code: 'GODWIT_ERR_UNAUTHORIZED' });
    // taken: what came is no move's images, and refused as such, not as unauthorized
    const first = await push(MID.mine, mine);
    expect(first.status, first.message).to.not.equal(401);
    expect(first.code, first.message).to.be.oneOf(['GODWIT_ERR_BAD_IMAGES', 'GODWIT_ERR_TRANSFER_FAILED']);
    const again = await push(MID.mine, mine);
    expect(again, 'the same credential again').to.include({ status: 401, code: 'GODWIT_ERR_UNAUTHORIZED' });
    expect(again.message).to.contain('used already');
    expect(await imagesHeld(MID.mine) || (await imagesHeld(MID.other)), 'images kept from those tries').to.equal(false);
  });

  it('refuses a credential the guest saw go by, sent from a node as the guest (who has no certificate of the cluster)', async function () {
    this.timeout(60_000);
    const seen = await expectMove(MID.guest);
    // the real source uses it first; the guest replays it
    expect((await push(MID.guest, seen)).status).to.not.equal(401);
    const guest = h.info.guestAccount;
    // a request the agent's end of the handshake leaves with no answer at all (the event loop empties
    // with the fetch still pending) is said as such rather than as nothing
    const replay = `let said = false; process.on('beforeExit', () => { if (!said) { said = true; console.log('no connection: no answer'); } }); fetch(${JSON.stringify(new URL(`/v1/images/${MID.guest}`, node1.url).href)}, { method: 'PUT', headers: { authorization: 'Bearer ${seen}', 'content-type': 'application/x-tar' }, body: 'x'.repeat(4096) }).then(async (r) => { said = true; console.log(r.status, (await r.json()).code); }, (e) => { said = true; console.log('no connection:', e.cause?.code ?? e.message); })`;
    const res = await execa('nsenter', [`--net=/run/netns/${h.info.nodes[0]!.netns}`, '--', 'setpriv', `--reuid=${guest.uid}`, `--regid=${guest.gid}`, '--clear-groups', '--', process.execPath, '-e', replay], { reject: false, env: { PATH: process.env.PATH, NODE_TLS_REJECT_UNAUTHORIZED: '0' }, extendEnv: false });
    expect(res.exitCode, res.stderr).to.equal(0);
    // the guest trusts any server, as an attacker would; the agent asks every caller for a
    // certificate of the cluster's CA, which the guest cannot read: the replay ends at the
    // handshake, before any credential is looked at
    expect(res.stdout.trim(), res.stderr).to.match(/^(401 GODWIT_ERR_UNAUTHORIZED|no connection: .+)$/);
    expect(await imagesHeld(MID.guest)).to.equal(false);
  });

  it('starts page servers on a port of the configured range', async function () {
    this.timeout(60_000);
    const range = node1.pageServerPorts ?? DEFAULT_PAGE_SERVER_PORTS;
    const res = await asOrchestrator('POST', `/v1/images/${MID.pages}/page-server`);
    const at = (await res.json()) as PageServer;
    expect(res.status, JSON.stringify(at)).to.equal(200);
    expect(at.port, `port of ${JSON.stringify(at)}`).to.be.within(range.first, range.last);
    const listening = () => execa('nsenter', [`--net=/run/netns/${h.info.nodes[1]!.netns}`, '--', 'ss', '-Hltn', `sport = :${at.port}`], { reject: false });
    expect((await listening()).stdout, `something listens on ${at.host}:${at.port} in node1`).to.contain(`:${at.port}`);
    await (await asOrchestrator('DELETE', `/v1/images/${MID.pages}`)).arrayBuffer();
    await eventually(async () => ((await listening()).stdout.trim() === '' ? true : undefined), `the page server on port ${at.port} to end`);
  });

  it('still moves a program, by full copy and lazily', async function () {
    this.timeout(300_000);
    const run = mosrun(h, [program('counter'), '100000']);
    const id = await run.id();
    try {
      await run.waitFor(/^3$/m);
      for (const [to, strategy] of [['node1', 'full'], ['node2', 'lazy']] as const) {
        const moved = await cli(h, 'mosmigrate', [String(id), to, '--strategy', strategy]);
        expect(moved.exitCode, `${moved.stdout}\n${moved.stderr}`).to.equal(0);
        expect((await processInfo(h, id)).node).to.equal(to);
      }
      const before = run.stdout().length;
      await eventually(async () => (run.stdout().length > before ? true : undefined), () => `the counter to go on counting on node2; it printed ${JSON.stringify(run.stdout().slice(-200))}`);
    } finally {
      // (bash passes SIGINT over while its sleep runs: the counter is killed)
      await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
      await run.child;
    }
  });
});
