#!/usr/bin/env node
// http_pair.js [PORT] [COUNT]: an HTTP server and a client child over ONE keep-alive connection.
//
// The parent listens on 127.0.0.1:PORT (default 0: an ephemeral port) and spawns a client: this
// same file with --client. The client uses an http.Agent with keepAlive and maxSockets 1 and asks
// GET /add?a=I&b=I for I = 1..COUNT (default 100), one request every 100 ms. The server answers
// {sum, conn, remotePort, connections}: conn numbers the TCP connection the request came on,
// connections counts all the connections it has accepted. The client checks every sum, checks that
// every request came on the same connection (same conn number, same client port) and prints
// "ok I" per answer, then
//   result=ok=<COUNT> connections=1
// and exits 0 only if all of that held. The parent exits with the client's status.
// No dependencies; ES module (the repository's package.json has "type": "module").
import { spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const HOST = '127.0.0.1';

function parseCount(s, fallback) {
  if (s === undefined) return fallback;
  if (!/^\d+$/.test(s)) {
    process.stderr.write(`http_pair: bad number '${s}'\n`);
    process.exit(2);
  }
  return Number(s);
}

function server(port, count) {
  let connections = 0;
  const srv = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${HOST}`);
    if (url.pathname !== '/add') {
      res.writeHead(404).end();
      return;
    }
    const a = Number(url.searchParams.get('a'));
    const b = Number(url.searchParams.get('b'));
    const body = JSON.stringify({
      sum: a + b,
      conn: req.socket.godwitConn,
      remotePort: req.socket.remotePort,
      connections,
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  // A move stops both ends for a moment; never let the server drop the idle connection.
  srv.keepAliveTimeout = 10 * 60 * 1000;
  srv.headersTimeout = 11 * 60 * 1000;
  srv.requestTimeout = 0;
  srv.on('connection', (sock) => {
    connections += 1;
    sock.godwitConn = connections;
  });
  srv.listen(port, HOST, () => {
    const actual = srv.address().port;
    console.log(`server: listening on ${HOST}:${actual}`);
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--client', String(actual), String(count)], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, UV_USE_IO_URING: '0' },
    });
    child.on('exit', (code, signal) => {
      console.log(`server: client exited code=${code} signal=${signal} connections=${connections}`);
      srv.close();
      srv.closeAllConnections?.();
      process.exitCode = code ?? 1;
    });
  });
}

function get(agent, port, i) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: HOST, port, path: `/add?a=${i}&b=${i}`, agent }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (data += d));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode, body: JSON.parse(data), localPort: req.socket?.localPort });
        } catch (e) {
          reject(e);
        }
      });
      res.on('error', reject);
    });
    req.setTimeout(30000, () => req.destroy(new Error(`request ${i} timed out`)));
    req.on('error', reject);
  });
}

async function client(port, count) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1, keepAliveMsecs: 1000 });
  let firstConn, firstPort, firstLocal;
  let bad = 0;
  for (let i = 1; i <= count; i++) {
    let r;
    try {
      r = await get(agent, port, i);
    } catch (e) {
      console.log(`client: request ${i} failed: ${e.message}`);
      process.exit(1);
    }
    const { sum, conn, remotePort } = r.body;
    if (i === 1) {
      firstConn = conn;
      firstPort = remotePort;
      firstLocal = r.localPort;
    }
    if (r.status !== 200 || sum !== 2 * i) {
      console.log(`client: BAD answer to ${i}: status=${r.status} sum=${sum}`);
      bad++;
    } else if (conn !== firstConn || remotePort !== firstPort || r.localPort !== firstLocal || r.body.connections !== 1) {
      console.log(
        `client: connection changed at ${i}: conn ${firstConn}->${conn} port ${firstPort}->${remotePort}` +
          ` local ${firstLocal}->${r.localPort}, server has accepted ${r.body.connections}`,
      );
      bad++;
    } else {
      console.log(`ok ${i}`);
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  agent.destroy();
  if (bad) {
    console.log(`client: FAILED, ${bad} bad answers`);
    process.exit(1);
  }
  console.log(`result=ok=${count} connections=1`);
}

const args = process.argv.slice(2);
if (args[0] === '--client') {
  client(parseCount(args[1], 0), parseCount(args[2], 100));
} else {
  server(parseCount(args[0], 0), parseCount(args[1], 100));
}
