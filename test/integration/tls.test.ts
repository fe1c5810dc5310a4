/**
 * TLS everywhere: the orchestrator and the agents speak only TLS, the agents only to holders of a
 * certificate from the cluster's CA, a node's token counts only with that node's certificate,
 * and a move's pages go through a CRIU page server that talks TLS, a full copy's and a lazy one's.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { ACCOUNT_HEADER, type OrchestratorConfig } from '@godwit/schemas';
import { type ClientTls, fetchOver } from '@godwit/schemas/tls';
import { makeClusterCerts } from '../../cli/src/cluster/certs.js';
import { api, cli, cluster, eventually, type Harness, mosrun, processInfo, scratchDir } from './harness.js';

describe('TLS between the cluster parts', function () {
  let h: Harness;
  let config: OrchestratorConfig;
  let ca: Buffer;
  let strangerDir: string;
  /** a certificate and key of another CA's, with a node's very name and address */
  let stranger: { cert: Buffer; key: Buffer };
  const tlsFile = (name: string) => readFileSync(join(h.home, 'tls', name));
  const nodeCert = (name: string): ClientTls => ({ ca, cert: tlsFile(`${name}.crt`), key: tlsFile(`${name}.key`) });
  const nodeToken = (name: string) => config.nodes.find((n) => n.name === name)!.token;
  const node0 = () => h.info.nodes[0]!;

  /** what the call brought: its status and body, or the error it failed with */
  async function attempt(tls: ClientTls | undefined, url: string, headers: Record<string, string> = {}): Promise<{ status?: number; body?: string; error?: string }> {
    try {
      const res = await fetchOver(tls)(url, { headers, signal: AbortSignal.timeout(20_000) });
      return { status: res.status, body: await res.text() };
    } catch (err) {
      return { error: `${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}` };
    }
  }

  before(async function () {
    this.timeout(240_000);
    h = await cluster();
    config = JSON.parse(readFileSync(join(h.home, 'orchestrator', 'config.json'), 'utf8')) as OrchestratorConfig;
    ca = tlsFile('ca.crt');
    strangerDir = scratchDir('godwit-tls-stranger-');
    const other = await makeClusterCerts(strangerDir, { orchestratorAddress: '127.0.0.1', nodes: [{ name: node0().name, address: node0().address }] });
    const files = other.nodes.get(node0().name)!;
    stranger = { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
  });

  after(() => rmSync(strangerDir, { recursive: true, force: true }));

  it('serves https only: plain http to the orchestrator and to an agent gets no answer', async () => {
    const orchestrator = await attempt(undefined, `${h.info.url.replace(/^https:/, 'http:')}/v1/nodes`, { authorization: `Bearer ${h.token}` });
    expect(orchestrator.status, `plain http to the orchestrator was answered: ${JSON.stringify(orchestrator)}`).to.equal(undefined);
    expect(h.info.url).to.match(/^https:/);
    const agent = await attempt(undefined, `${node0().url.replace(/^https:/, 'http:')}/v1/procs`, { authorization: `Bearer ${nodeToken('node0')}` });
    expect(agent.status, `plain http to the agent was answered: ${JSON.stringify(agent)}`).to.equal(undefined);
  });

  it('an agent refuses a caller without a client certificate, even with its token', async () => {
    const res = await attempt({ ca }, `${node0().url}/v1/procs`, { authorization: `Bearer ${nodeToken('node0')}` });
    expect(res.status, `answered without a client certificate: ${JSON.stringify(res)}`).to.equal(undefined);
    expect(res.error).to.match(/certificate required|ECONNRESET|socket hang up/i);
  });

  it("an agent refuses a client certificate from another CA, even one in the node's own name", async () => {
    const res = await attempt({ ca, ...stranger }, `${node0().url}/v1/procs`, { authorization: `Bearer ${nodeToken('node0')}` });
    expect(res.status, `answered a stranger's certificate: ${JSON.stringify(res)}`).to.equal(undefined);
    // and the same call with the orchestrator's certificate passes: the certificate made the difference
    const ours = await attempt(nodeCert('orchestrator'), `${node0().url}/v1/procs`, { authorization: `Bearer ${nodeToken('node0')}` });
    expect(ours.status, JSON.stringify(ours)).to.equal(200);
  });

  it("an agent takes its node's token only with the orchestrator's certificate: node1's certificate with node0's token is refused", async () => {
    const asNode0 = { authorization: `Bearer ${nodeToken('node0')}` };
    const withNode1 = await attempt(nodeCert('node1'), `${node0().url}/v1/procs`, asNode0);
    expect(withNode1.status, JSON.stringify(withNode1)).to.equal(401);
    expect(JSON.parse(withNode1.body!)).to.include({ code: 'GODWIT_ERR_UNAUTHORIZED' });
    expect(JSON.parse(withNode1.body!).message).to.match(/node0's token came over a connection with node1's certificate/);
    const withOwn = await attempt(nodeCert('node0'), `${node0().url}/v1/procs`, asNode0);
    expect(withOwn.status, `node0's own certificate: ${JSON.stringify(withOwn)}`).to.equal(401);
    const orchestrator = await attempt(nodeCert('orchestrator'), `${node0().url}/v1/procs`, asNode0);
    expect(orchestrator.status, JSON.stringify(orchestrator)).to.equal(200);
  });

  it("the orchestrator takes a node's token only with that node's certificate", async () => {
    const asNode0 = { authorization: `Bearer ${nodeToken('node0')}`, [ACCOUNT_HEADER]: 'root' };
    const url = `${h.info.url}/v1/whoami`;
    const withNode1 = await attempt(nodeCert('node1'), url, asNode0);
    expect(withNode1.status, JSON.stringify(withNode1)).to.equal(401);
    expect(JSON.parse(withNode1.body!)).to.include({ code: 'GODWIT_ERR_UNAUTHORIZED' });
    expect(JSON.parse(withNode1.body!).message).to.match(/node node0's token came over a connection with node1's certificate/);
    const without = await attempt({ ca }, url, asNode0);
    expect(without.status, JSON.stringify(without)).to.equal(401);
    const stolen = await attempt({ ca, ...stranger }, url, asNode0);
    expect(stolen.status, `a stranger's certificate in node0's name: ${JSON.stringify(stolen)}`).to.equal(401);
    const own = await attempt(nodeCert('node0'), url, asNode0);
    expect(own.status, JSON.stringify(own)).to.equal(200);
    expect(JSON.parse(own.body!)).to.include({ user: 'root' });
  });

  it('moves a program by full copy, its pages through a CRIU page server that talks TLS', async function () {
    this.timeout(180_000);
    const run = mosrun(h, ['sh', '-c', 'echo ready; exec sleep 600']);
    let id: number | undefined;
    try {
      id = await run.id();
      await run.waitFor(/^ready$/m);
      const mig = await cli(h, 'mosmigrate', [String(id), 'node1', '--strategy', 'full']);
      expect(mig.exitCode, `mosmigrate ${id} node1 --strategy full: ${mig.stderr}`).to.equal(0);
      expect((await processInfo(h, id)).node).to.equal('node1');
      const started = await eventually(async () => {
        const log = readFileSync(join(h.info.logsDir, 'node1.log'), 'utf8');
        return log.split('\n').filter((l) => l.includes('CRIU page server started')).map((l) => JSON.parse(l) as { argv: string[] }).at(-1);
      }, "node1's log to say it started a page server");
      expect(started.argv, `the page server's command line: ${started.argv.join(' ')}`).to.include.members(['--tls', '--tls-cacert', '--tls-cert', '--tls-key']);
      expect(started.argv[started.argv.indexOf('--tls-cert') + 1]).to.equal(join(h.home, 'tls', 'node1.crt'));
    } finally {
      if (id !== undefined) await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' });
      await run.child.catch(() => undefined);
    }
  });

  it("moves a program lazily, its memory served over TLS by the source's lazy dump to the destination's lazy-pages daemon, every byte intact", async function () {
    this.timeout(180_000);
    // 64 MiB of a known pattern, checked whole after the move: lazily moved memory arrives intact over TLS
    const script = 'import sys,hashlib; b=bytearray((bytes(range(251))*267400)[:64<<20]); h=hashlib.sha256(b).hexdigest(); print("ready", flush=True); sys.stdin.readline(); print("same" if hashlib.sha256(b).hexdigest()==h else "changed", flush=True)';
    const run = mosrun(h, ['python3', '-c', script], { input: true });
    let id: number | undefined;
    try {
      id = await run.id();
      await run.waitFor(/^ready$/m);
      const mig = await cli(h, 'mosmigrate', [String(id), 'node1', '--strategy', 'lazy']);
      expect(mig.exitCode, `mosmigrate ${id} node1 --strategy lazy: ${mig.stderr}`).to.equal(0);
      expect((await processInfo(h, id)).node).to.equal('node1');
      const daemon = (node: string, verb: string) => eventually(async () => {
        const log = readFileSync(join(h.info.logsDir, `${node}.log`), 'utf8');
        return log.split('\n').filter((l) => l.includes('CRIU lazy daemon started')).map((l) => JSON.parse(l) as { argv: string[] }).filter((l) => l.argv.includes(verb)).at(-1);
      }, `${node}'s log to say it started criu ${verb}`);
      const dump = await daemon('node0', 'dump');
      expect(dump.argv, `the lazy dump's command line: ${dump.argv.join(' ')}`).to.include.members(['--lazy-pages', '--tls', '--tls-cacert', '--tls-cert', '--tls-key']);
      expect(dump.argv[dump.argv.indexOf('--tls-cert') + 1]).to.equal(join(h.home, 'tls', 'node0.crt'));
      const pager = await daemon('node1', 'lazy-pages');
      expect(pager.argv, `the lazy-pages daemon's command line: ${pager.argv.join(' ')}`).to.include.members(['--tls', '--tls-cacert', '--tls-cert', '--tls-key']);
      expect(pager.argv, 'the daemon, a client, checks that the source names its address').not.to.include('--tls-no-cn-verify');
      run.child.stdin!.write('\n');
      await run.waitFor(/^(same|changed)$/m);
      expect(run.stdout(), 'the program after the move: its memory as it was').to.match(/^same$/m);
    } finally {
      if (id !== undefined) await api(h, 'POST', `/v1/processes/${id}/signal`, { signal: 'SIGKILL' }).catch(() => undefined);
      await run.child.catch(() => undefined);
    }
  });
});
