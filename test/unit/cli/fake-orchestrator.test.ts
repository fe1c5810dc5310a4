/**
 * The CLI binaries against a small fake orchestrator on loopback: what they send, what they print,
 * how they exit. The real orchestrator is covered by the integration tests.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { execa } from 'execa';
import type { Process } from '@godwit/schemas';
import { fakeProcess } from './fake-process.js';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');
const bin = (name: string) => path.join(repo, 'cli', 'src', 'bin', `${name}.ts`);
/** tsx's loader by absolute URL: the binaries run in a temporary directory. */
const tsx = import.meta.resolve('tsx');

interface Seen {
  runs: unknown[];
  stdin: string;
  eof: boolean;
  signals: string[];
  outputRequests: string[];
  /** the query of each GET /v1/processes */
  lists: string[];
}

function proc(id: number, over: Partial<Process> = {}): Process {
  return fakeProcess({ id, pid: 100 + id, origPid: 100 + id, ...over });
}

function apiError(res: http.ServerResponse, status: number, code: string, message: string, details?: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ statusCode: status, code, error: 'x', message, details }));
}

function body(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

const line = (o: unknown) => JSON.stringify(o) + '\n';
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('CLI binaries against a fake orchestrator', function () {
  this.timeout(30_000);
  let server: http.Server;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let seen: Seen;
  let pendingExit: ((signal: string) => void) | null = null;

  before(async () => {
    const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
      const url = new URL(req.url!, 'http://x');
      if (req.headers.authorization !== 'Bearer test-token-0123456789') return apiError(res, 401, 'GODWIT_ERR_UNAUTHORIZED', 'bad token');
      const m = /^\/v1\/processes\/(\d+)(?:\/(\w+))?$/.exec(url.pathname);
      if (req.method === 'POST' && url.pathname === '/v1/processes') {
        const run = JSON.parse((await body(req)).toString()) as { argv: string[] };
        seen.runs.push(run);
        const id = run.argv[0] === 'sleeper' ? 2 : run.argv[0] === 'stuck' ? 3 : 1;
        res.writeHead(201, { 'content-type': 'application/json' });
        return res.end(JSON.stringify(proc(id, { argv: run.argv, node: 'node1' })));
      }
      if (req.method === 'GET' && url.pathname === '/v1/processes') {
        seen.lists.push(url.search);
        // the orchestrator's filter by state, and pages of one process: the client must follow the cursor
        const states = url.searchParams.get('state')?.split(',');
        const all = [proc(1), proc(2, { state: 'exited', exitCode: 0 })].filter((p) => !states || states.includes(p.state));
        const at = url.searchParams.get('cursor') === 'second' ? 1 : 0;
        res.writeHead(200, { 'content-type': 'application/json', ...(at + 1 < all.length ? { 'x-next-cursor': 'second' } : {}) });
        return res.end(JSON.stringify(all.slice(at, at + 1)));
      }
      if (req.method === 'GET' && url.pathname === '/v1/nodes') {
        res.writeHead(200, { 'content-type': 'application/json' });
        const node = (i: number) => ({ name: `node${i}`, url: `http://127.0.0.${10 + i}:7701`, state: 'online', lastSeen: 1, features: null, load: null, drained: false });
        return res.end(JSON.stringify([node(0), node(1), node(2)]));
      }
      if (m && m[2] === 'output') {
        seen.outputRequests.push(url.search);
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        const offset = Number(url.searchParams.get('offset'));
        if (m[1] === '3') {
          seen.outputRequests.push('stuck');
          return res.write(line({ offset: 0, stream: 'stdout', data: b64('stuck\n') }));
        }
        if (m[1] === '2') {
          pendingExit = (signal) => res.end(line({ exit: { code: null, signal } }));
          return res.write(line({ offset: 0, stream: 'stdout', data: b64('waiting\n') }));
        }
        if (offset === 0) {
          // Then the connection drops, as when the orchestrator restarts.
          res.write(line({ offset: 0, stream: 'stdout', data: b64('hello ') }) + line({ offset: 6, stream: 'stdout', data: b64('wor') }));
          setTimeout(() => res.socket?.destroy(), 50);
          return;
        }
        // Resumed: starts a little before the offset asked for; the client must not repeat bytes.
        return res.end(
          line({ offset: 6, stream: 'stdout', data: b64('world\n') }) +
            line({ offset: 12, stream: 'stderr', data: b64('oops\n') }) +
            line({ exit: { code: 3, signal: null } }),
        );
      }
      if (m && m[2] === 'stdin') {
        seen.stdin += (await body(req)).toString();
        if (url.searchParams.get('eof') === 'true') seen.eof = true;
        res.writeHead(204);
        return res.end();
      }
      if (m && m[2] === 'signal' && m[1] === '3') {
        res.writeHead(502);
        return res.end('bad gateway');
      }
      if (m && m[2] === 'signal') {
        const { signal } = JSON.parse((await body(req)).toString()) as { signal: string };
        seen.signals.push(signal);
        res.writeHead(204);
        res.end();
        return pendingExit?.(signal);
      }
      if (m && m[2] === 'migrate') {
        const { to } = JSON.parse((await body(req)).toString()) as { to: string };
        if (to !== 'node1') return apiError(res, 404, 'GODWIT_ERR_NODE_NOT_FOUND', `no node '${to}'`, { nodes: ['node0', 'node1'] });
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({
          id: 5, processId: Number(m[1]), from: 'node0', to, strategy: 'full', strategyReason: null, state: 'done', steps: [],
          stoppedMs: 120, frozenMs: 120, totalMs: 300, bytes: 10, code: null, reason: null, startedAt: 0, endedAt: 300,
        }));
      }
      apiError(res, 404, 'GODWIT_ERR_NOT_FOUND', `no route ${url.pathname}`);
    };
    server = http.createServer((req, res) => {
      handle(req, res).catch((err: unknown) => apiError(res, 500, 'GODWIT_ERR_INTERNAL', `fake orchestrator: ${(err as Error).message}`));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'godwit-cli-test-'));
    const config = path.join(dir, 'cluster.json');
    fs.writeFileSync(config, JSON.stringify({ url: `http://127.0.0.1:${port}`, token: 'test-token-0123456789', user: 'root', homeNode: 'node0' }));
    env = { ...process.env, GODWIT_CONFIG: config, GODWIT_SECRET_THING: 'x' };
  });

  beforeEach(() => {
    seen = { runs: [], stdin: '', eof: false, signals: [], outputRequests: [], lists: [] };
    pendingExit = null;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const cli = (name: string, args: string[], opts: { input?: string; stdin?: 'ignore' | { file: string }; env?: NodeJS.ProcessEnv } = {}) =>
    execa(process.execPath, ['--import', tsx, bin(name), ...args], { env, extendEnv: false, reject: false, cwd: dir, ...opts });

  it('mosrun: sends the run, relays stdin, resumes a dropped stream, exits with the program’s code', async () => {
    const r = await cli('mosrun', ['-v', '-rnode1', 'prog', '-x', '--y'], { input: 'some input' });
    expect(r.stdout).to.equal('hello world');
    expect(r.stderr).to.contain('godwit: process 1 started on node1 (pid 101)');
    expect(r.stderr).to.contain('oops');
    expect(r.exitCode).to.equal(3);
    const run = seen.runs[0] as { argv: string[]; cwd: string; node: string; homeNode: string; env: Record<string, string> };
    expect(run.argv).to.deep.equal(['prog', '-x', '--y']);
    expect(run.node).to.equal('node1');
    expect(run.homeNode).to.equal('node0');
    expect(run.cwd).to.equal(fs.realpathSync(dir));
    expect(Object.keys(run.env).filter((k) => k.startsWith('GODWIT_'))).to.deep.equal([]);
    expect(seen.stdin).to.equal('some input');
    expect(seen.eof).to.equal(true);
    // as its foreground: the program's life follows this mosrun's
    expect(seen.outputRequests).to.deep.equal(['?offset=0&follow=true&attach=true', '?offset=9&follow=true&attach=true']);
    expect((seen.runs[0] as { attached?: boolean }).attached).to.equal(true);
  });

  it('mosrun --detach: starts it detached, prints its id and returns without following it', async () => {
    const r = await cli('mosrun', ['--detach', 'prog'], { stdin: 'ignore' });
    expect(r.exitCode, r.stderr).to.equal(0);
    expect(r.stdout).to.equal('1');
    expect((seen.runs[0] as { attached?: boolean }).attached).to.equal(undefined);
    expect(seen.outputRequests).to.deep.equal([]);
  });

  it('mosrun: with stdin from /dev/null sends only end-of-file', async () => {
    const r = await cli('mosrun', ['prog'], { stdin: { file: '/dev/null' } });
    expect(r.exitCode).to.equal(3);
    expect(seen.stdin).to.equal('');
    expect(seen.eof).to.equal(true);
  });

  it('mosrun: passes SIGTERM on to the program and exits 128+15 when it dies of it', async () => {
    const sub = cli('mosrun', ['sleeper'], { stdin: 'ignore' });
    const deadline = Date.now() + 15_000;
    while (!pendingExit && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(pendingExit, 'mosrun never followed the output').to.not.equal(null);
    sub.kill('SIGTERM');
    const r = await sub;
    expect(seen.signals).to.deep.equal(['SIGTERM']);
    expect(r.stdout).to.equal('waiting');
    expect(r.exitCode).to.equal(143);
  });

  it('mosrun: exits 128+N itself when signal N cannot be passed on', async () => {
    const sub = cli('mosrun', ['stuck'], { stdin: 'ignore' });
    const deadline = Date.now() + 15_000;
    while (!seen.outputRequests.includes('stuck') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 200));
    sub.kill('SIGINT');
    const r = await sub;
    expect(r.exitCode).to.equal(130);
    expect(r.stderr).to.match(/^godwit: could not pass SIGINT to process 3 \(.*502.*\); it may still be running/);
  });

  it('mosmigrate: prints the move; an API error prints its message and details, exit 1', async function () {
    // five runs of the CLI, each seconds long on a busy machine
    this.timeout(120_000);
    const ok = await cli('mosmigrate', ['1', 'node1']);
    expect(ok.exitCode).to.equal(0);
    expect(ok.stdout).to.equal('process 1 moved from node0 to node1 in 300 ms (stopped 120 ms)');
    const byNumber = await cli('mosmigrate', ['1', '2']);
    expect(byNumber.stdout, byNumber.stderr).to.equal('process 1 moved from node0 to node1 in 300 ms (stopped 120 ms)');
    const bad = await cli('mosmigrate', ['1', 'node2']);
    expect(bad.exitCode).to.equal(1);
    expect(bad.stderr).to.equal("godwit: no node 'node2'\n  nodes: node0, node1");
    const unknown = await cli('mosmigrate', ['1', 'node7']);
    expect(unknown.exitCode).to.equal(1);
    expect(unknown.stderr).to.match(/^godwit: no node node7 \(did you mean node0 or node1 or node2\?\); the nodes are \(number, name, address\): 1 node0 \(127\.0\.0\.10\), /);
    const json = await cli('mosmigrate', ['--json', '1', 'node1']);
    expect(JSON.parse(json.stdout)).to.include({ id: 5, state: 'done' });
  });

  it('mosps: a table, or JSON, asking only for what it shows, page after page', async () => {
    const table = await cli('mosps', []);
    expect(table.exitCode).to.equal(0);
    expect(table.stdout.split('\n')).to.have.length(2);
    expect(seen.lists, 'only live processes asked for').to.deep.equal(['?state=running%2Cmigrating%2Cfrozen&limit=1000']);
    const all = await cli('mosps', ['--exited', '--json', '-u', 'root']);
    expect((JSON.parse(all.stdout) as Process[]).map((p) => p.id), 'both pages').to.deep.equal([1, 2]);
    expect(seen.lists.slice(1)).to.deep.equal(['?all=true&owner=root&limit=1000', '?all=true&owner=root&limit=1000&cursor=second']);
  });

  it('says clearly when no cluster is configured, or the orchestrator is unreachable', async () => {
    const none = await cli('mosps', [], { env: { ...env, GODWIT_CONFIG: path.join(dir, 'nope.json') } });
    expect(none.exitCode).to.equal(1);
    expect(none.stderr).to.match(/^godwit: no cluster configured: run `npm start` or `godwit cluster up`/);
    const cfg = path.join(dir, 'dead.json');
    fs.writeFileSync(cfg, JSON.stringify({ url: 'http://127.0.0.1:9', token: 't', user: 'u', homeNode: 'node0' }));
    const dead = await cli('godwit', ['nodes'], { env: { ...env, GODWIT_CONFIG: cfg } });
    expect(dead.exitCode).to.equal(1);
    expect(dead.stderr).to.contain('cannot reach the orchestrator at http://127.0.0.1:9');
    expect(dead.stderr).to.not.match(/\n\s+at /);
  });

  it('usage errors exit 2 with a pointer to --help', async () => {
    const r = await cli('godwit', ['migrate', '1']);
    expect(r.exitCode).to.equal(2);
    expect(r.stderr).to.equal("godwit: missing required argument 'node'\n(see `godwit migrate --help`)");
  });
});
