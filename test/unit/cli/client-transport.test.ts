import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { GodwitError } from '@godwit/schemas';
import { connect, GodwitClient } from '../../../cli/src/client.js';

/** what `p` failed with; fails the test when it did not */
async function failure(p: Promise<unknown>): Promise<Error> {
  const outcome = await p.then((v: unknown) => ({ v }), (e: unknown) => ({ e: e as Error }));
  if ('v' in outcome) throw new Error(`expected a failure, got ${JSON.stringify(outcome.v)}`);
  return outcome.e;
}

/** The client over node:http, against a server on a Unix socket and one on TCP. */
describe('cli: the client over node:http', function () {
  let dir: string;
  let socket: string;
  let server: http.Server;
  let tcp: http.Server;
  let tcpUrl: string;
  let seenAuth: string | undefined;
  const local = (timeoutMs?: number) => new GodwitClient({ socket, user: 'ann', homeNode: 'node0' }, timeoutMs ? { timeoutMs } : {});

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    seenAuth = req.headers.authorization;
    if (req.url === '/v1/nodes') res.writeHead(200, { 'content-type': 'application/json' }).end('[{"name":"node0"}]');
    else if (req.url === '/v1/processes/7') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ statusCode: 404, code: 'GODWIT_ERR_PROCESS_NOT_FOUND', error: 'Not Found', message: 'no process 7' }));
    } else if (req.url === '/v1/processes/8/signal') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ received: JSON.parse(body) as unknown })));
    } else if (req.url?.startsWith('/v1/processes/9/output')) {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      // one line split across writes, then the exit line
      res.write('{"stream":"stdout","offset":0,"da');
      setImmediate(() => res.end('ta":"aGk="}\n{"exit":{"code":0,"signal":null}}\n'));
    } else if (req.url === '/v1/processes/9/output/written') {
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    } else if (req.url === '/v1/events') {
      // never answers: the timeout must
    } else res.writeHead(500).end('plain failure');
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'godwit-transport-'));
    socket = join(dir, 'agent.sock');
    server = http.createServer(handler);
    tcp = http.createServer(handler);
    await new Promise<void>((r) => server.listen(socket, r));
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    tcpUrl = `http://127.0.0.1:${(tcp.address() as { port: number }).port}`;
  });
  after(async () => {
    for (const s of [server, tcp]) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends the token over TCP and none over the socket', async () => {
    await new GodwitClient({ url: tcpUrl, token: 'tok-1', user: 'ann', homeNode: 'node0' }).listNodes();
    expect(seenAuth).to.equal('Bearer tok-1');
    expect(await local().listNodes()).to.deep.equal([{ name: 'node0' }]);
    expect(seenAuth).to.equal(undefined);
  });

  it('turns an API error into its GodwitError, and any other failure into words with the status', async () => {
    const err = await failure(local().getProcess(7));
    expect(err).to.be.instanceOf(GodwitError);
    expect((err as GodwitError).code).to.equal('GODWIT_ERR_PROCESS_NOT_FOUND');
    const other = await failure(local().getProcess(6));
    expect(other.message).to.equal('GET /v1/processes/6 failed: HTTP 500 Internal Server Error: plain failure');
  });

  it('posts a JSON body and reads the 202 answer', async () => {
    expect(await local().signal(8, 'SIGUSR1')).to.deep.equal({ received: { signal: 'SIGUSR1' } });
  });

  it('reads a stream line by line across its chunks', async () => {
    const lines = [];
    for await (const line of local().output(9, { offset: 0, follow: true })) lines.push(line);
    expect(lines).to.deep.equal([{ stream: 'stdout', offset: 0, data: 'aGk=' }, { exit: { code: 0, signal: null } }]);
  });

  it('reads every answer to its end, so that one connection serves call after call', async () => {
    let connections = 0;
    const count = () => connections++;
    tcp.on('connection', count);
    try {
      const client = new GodwitClient({ url: tcpUrl, token: 'tok-1', user: 'ann', homeNode: 'node0' });
      for (let offset = 0; offset < 20; offset++) await client.outputWritten(9, offset * 16384);
      await client.listNodes();
      // the first test's connection may serve them all
      expect(connections, 'new connections for 21 calls in a row').to.be.at.most(1);
    } finally {
      tcp.off('connection', count);
    }
  });

  it('says which call did not answer in time, and what could not be reached', async () => {
    const slow = await failure(local(200).listEvents());
    expect(slow.message).to.equal(`the agent's socket ${socket} did not answer GET /v1/events within 200 ms`);
    const gone = await failure(new GodwitClient({ socket: join(dir, 'none.sock'), user: 'ann', homeNode: 'node0' }).listNodes());
    expect(gone.message).to.equal(`cannot reach the agent's socket ${join(dir, 'none.sock')} (ENOENT); is this node's agent running?`);
  });

  it('names the field of a configuration that is wrong', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ url: 'http://x', token: 5, user: 'u', homeNode: 'n' }));
    const err = await failure(connect({ GODWIT_CONFIG: file }));
    expect(err.message).to.match(new RegExp(`^client configuration ${file} is invalid: /token `));
  });
});
