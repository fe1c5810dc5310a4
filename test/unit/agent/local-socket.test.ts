import http from 'node:http';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import pino from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { ACCOUNT_HEADER } from '@godwit/schemas';
import { openLocalSocket } from '../../../agent/src/local-socket.js';
import { GodwitClient } from '../../../cli/src/client.js';

const NODE_TOKEN = 'node7-token-0123456789';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

describe('agent: the local socket passes calls on as whoever connected', function () {
  let dir: string;
  let orchestrator: http.Server;
  let socket: { close: () => Promise<void> };
  let sockPath: string;
  const seen: Seen[] = [];
  /** the follower's stream, held open until the test ends it */
  let follow: http.ServerResponse | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'godwit-local-socket-'));
    orchestrator = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (c: string) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        if (req.url === '/v1/whoami') {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ user: 'root', admin: true, account: req.headers[ACCOUNT_HEADER] }));
        } else if (req.url!.startsWith('/v1/processes/5/output')) {
          res.writeHead(200, { 'content-type': 'application/x-ndjson' });
          res.write(`${JSON.stringify({ stream: 'stdout', data: 'first\n', offset: 0 })}\n`);
          follow = res;
        } else {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify([]));
        }
      });
    });
    const wss = new WebSocketServer({ server: orchestrator });
    wss.on('connection', (ws, req) => ws.send(JSON.stringify({ account: req.headers[ACCOUNT_HEADER], authorization: req.headers.authorization })));
    await new Promise<void>((r) => orchestrator.listen(0, '127.0.0.1', r));
    const port = (orchestrator.address() as { port: number }).port;
    sockPath = join(dir, 'sub', 'agent.sock');
    socket = await openLocalSocket({ path: sockPath, node: 'node7', orchestratorUrl: `http://127.0.0.1:${port}`, token: NODE_TOKEN, log: pino({ level: 'silent' }) });
  });
  after(async () => {
    follow?.end();
    await socket.close();
    orchestrator.closeAllConnections();
    await new Promise((r) => orchestrator.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('is a socket anyone may connect to', () => {
    expect(statSync(sockPath).mode & 0o777).to.equal(0o666);
  });

  it('says who the caller is and which node, from the uid the kernel gives', async () => {
    const client = await GodwitClient.local(sockPath);
    expect(client.config).to.deep.equal({ socket: sockPath, user: 'root', homeNode: 'node7' });
    const asked = seen.find((s) => s.url === '/v1/whoami')!;
    expect(asked.headers.authorization).to.equal(`Bearer ${NODE_TOKEN}`);
    expect(asked.headers[ACCOUNT_HEADER], 'this test runs as root').to.equal('root');
  });

  it('passes a call on with its body, with the node token and the account, whatever the caller claimed', async () => {
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request({ socketPath: sockPath, path: '/v1/processes?all=true', method: 'POST', headers: { authorization: 'Bearer forged', [ACCOUNT_HEADER]: 'alice', 'content-type': 'application/json' } }, (r) => {
        let body = '';
        r.setEncoding('utf8').on('data', (c: string) => (body += c));
        r.on('end', () => resolve({ status: r.statusCode!, body }));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ argv: ['true'] }));
    });
    expect(res).to.deep.equal({ status: 200, body: '[]' });
    const call = seen.at(-1)!;
    expect(call).to.include({ method: 'POST', url: '/v1/processes?all=true', body: JSON.stringify({ argv: ['true'] }) });
    expect(call.headers.authorization).to.equal(`Bearer ${NODE_TOKEN}`);
    expect(call.headers[ACCOUNT_HEADER]).to.equal('root');
  });

  it('streams output as it comes, before the response ends', async () => {
    const client = await GodwitClient.local(sockPath);
    const lines = client.output(5, { offset: 0, follow: true });
    const first = await lines.next();
    expect(first.value).to.deep.include({ data: 'first\n' });
    follow!.end(`${JSON.stringify({ exit: { code: 0, signal: null } })}\n`);
    expect((await lines.next()).value).to.deep.equal({ exit: { code: 0, signal: null } });
    expect((await lines.next()).done).to.equal(true);
  });

  it('opens websockets (a move\'s progress) as the caller, too', async () => {
    const client = await GodwitClient.local(sockPath);
    const address = client.websocketAddress('/processes/5/progress');
    const ws = new WebSocket(address.url, { headers: { ...address.headers, [ACCOUNT_HEADER]: 'alice' } });
    const message = await new Promise<string>((resolve, reject) => {
      ws.once('message', (d: WebSocket.RawData) => resolve(String(d)));
      ws.once('error', reject);
    });
    ws.close();
    expect(JSON.parse(message)).to.deep.equal({ account: 'root', authorization: `Bearer ${NODE_TOKEN}` });
  });
});
