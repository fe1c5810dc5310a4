/**
 * The node's door for its own users: a Unix socket anyone on the node may connect to (mode 0666),
 * where no token is needed because the kernel says who connected (SO_PEERCRED). Each request is
 * passed on to the orchestrator with this node's token and the caller's account in
 * ACCOUNT_HEADER, as Slurm passes a job on with MUNGE's word: the orchestrator takes the node's
 * word for who is on it. Whatever the caller says about who they are (an Authorization or an
 * ACCOUNT_HEADER of their own) is dropped on the way.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import { peerCred } from '@godwit/peercred';
import { ACCOUNT_HEADER, GodwitError, type LocalWhoami, type Whoami } from '@godwit/schemas';
import { accountNameOf } from './accounts.js';

export interface LocalSocketOptions {
  path: string;
  node: string;
  orchestratorUrl: string;
  /** the node's token, which the orchestrator trusts to name a local account */
  token: string;
  log: FastifyBaseLogger;
  /** for an https orchestrator: the agent that shows the node's certificate (clientAgent) */
  agent?: https.Agent;
}

/** answered here, not passed on: who the caller is, and which node speaks for them */
const WHOAMI = '/v1/local/whoami';

/** headers that belong to one connection, or that say who the caller is: never passed on */
const NOT_PASSED_ON = new Set(['authorization', ACCOUNT_HEADER, 'host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

function passedOn(headers: http.IncomingHttpHeaders | http.OutgoingHttpHeaders): http.OutgoingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !NOT_PASSED_ON.has(k.toLowerCase())));
}

function sendError(res: http.ServerResponse, e: GodwitError): void {
  if (res.destroyed) return;
  if (res.headersSent) {
    res.destroy(e);
    return;
  }
  res.writeHead(e.statusCode, { 'content-type': 'application/json' }).end(JSON.stringify(e.toBody()));
}

export async function openLocalSocket(opts: LocalSocketOptions): Promise<{ close: () => Promise<void> }> {
  const upstream = new URL(opts.orchestratorUrl);
  const transport = upstream.protocol === 'https:' ? https : http;
  /** the caller of each connection, taken when it connects (the kernel's record of that moment) */
  const callers = new WeakMap<Socket, Promise<string>>();

  const unreachable = (err: Error) =>
    new GodwitError('GODWIT_ERR_ORCHESTRATOR_UNREACHABLE', `${opts.node} cannot reach the orchestrator at ${opts.orchestratorUrl}: ${err.message}`, { node: opts.node });

  /** the request to the orchestrator for `account`, the caller's own headers less who they claim to be */
  const forward = (req: http.IncomingMessage, account: string, pathAndQuery = req.url ?? '/') =>
    transport.request(new URL(pathAndQuery, upstream), {
      method: req.method ?? 'GET',
      headers: { ...passedOn(req.headers), authorization: `Bearer ${opts.token}`, [ACCOUNT_HEADER]: account },
      ...(opts.agent ? { agent: opts.agent } : {}),
    });

  const whoami = (req: http.IncomingMessage, res: http.ServerResponse, account: string) => {
    const call = forward(req, account, '/v1/whoami');
    call.on('error', (err) => sendError(res, unreachable(err)));
    call.on('response', (answer) => {
      let text = '';
      answer.setEncoding('utf8').on('data', (c: string) => (text += c));
      answer.on('end', () => {
        if (answer.statusCode !== 200) {
          res.writeHead(answer.statusCode ?? 502, passedOn(answer.headers)).end(text);
          return;
        }
        let me: Whoami;
        try {
          me = JSON.parse(text) as Whoami;
        } catch (err) {
          if (!(err instanceof SyntaxError)) throw err;
          sendError(res, new GodwitError('GODWIT_ERR_ORCHESTRATOR_UNREACHABLE', `the orchestrator at ${opts.orchestratorUrl} answered GET /v1/whoami with no JSON`, { node: opts.node }));
          return;
        }
        const local: LocalWhoami = { ...me, node: opts.node };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(local));
      });
    });
    call.end();
  };

  const server = http.createServer((req, res) => {
    void (async () => {
      let account: string;
      try {
        account = await callers.get(req.socket)!;
      } catch (err) {
        sendError(res, err instanceof GodwitError ? err : new GodwitError('GODWIT_ERR_UNAUTHORIZED', (err as Error).message));
        return;
      }
      if (new URL(req.url ?? '/', 'http://local').pathname === WHOAMI) {
        whoami(req, res, account);
        return;
      }
      const call = forward(req, account);
      call.on('error', (err) => sendError(res, unreachable(err)));
      call.on('response', (answer) => {
        res.writeHead(answer.statusCode ?? 502, passedOn(answer.headers));
        // each piece as it comes: output that follows a program is one long response
        res.flushHeaders();
        answer.pipe(res);
      });
      // a caller who goes away ends its call (a follower of output, above all); a call answered
      // in full is left alone, its connection kept for the next
      res.on('close', () => {
        if (!res.writableFinished) call.destroy();
      });
      req.pipe(call);
    })();
  });
  // a websocket (a move's progress): the caller's bytes and the orchestrator's, both ways, once it agrees
  server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    void (async () => {
      // a caller who could not be identified was logged as it connected; it is refused here
      const account = await callers.get(socket)!.catch(() => undefined);
      if (account === undefined) {
        socket.end('HTTP/1.1 401 Unauthorized\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        return;
      }
      const call = forward(req, account);
      call.setHeader('connection', 'Upgrade');
      call.setHeader('upgrade', req.headers.upgrade ?? 'websocket');
      call.on('error', () => socket.destroy());
      call.on('response', (answer) => {
        socket.end(`HTTP/1.1 ${answer.statusCode ?? 502} ${answer.statusMessage ?? ''}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
        answer.resume();
      });
      call.on('upgrade', (answer, theirs: Socket, theirHead: Buffer) => {
        const lines = [`HTTP/1.1 101 ${answer.statusMessage ?? 'Switching Protocols'}`];
        for (let i = 0; i < answer.rawHeaders.length; i += 2) lines.push(`${answer.rawHeaders[i]}: ${answer.rawHeaders[i + 1]}`);
        socket.write(`${lines.join('\r\n')}\r\n\r\n`);
        if (theirHead.length) socket.write(theirHead);
        if (head.length) theirs.write(head);
        theirs.on('error', () => socket.destroy());
        socket.on('error', () => theirs.destroy());
        theirs.pipe(socket).pipe(theirs);
      });
      call.end();
    })();
  });
  server.on('connection', (socket: Socket) => {
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
    const caller = (async () => accountNameOf(peerCred(fd).uid, opts.node))();
    caller.catch((err: unknown) => opts.log.warn({ err }, `a caller on ${opts.path} could not be identified`));
    callers.set(socket, caller);
  });

  fs.mkdirSync(path.dirname(opts.path), { recursive: true, mode: 0o755 });
  // a socket file left by an agent that is gone: nothing listens on it any more
  if (fs.lstatSync(opts.path, { throwIfNoEntry: false })?.isSocket()) fs.unlinkSync(opts.path);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.path, () => resolve());
  });
  // anyone on the node may knock; the kernel says who did
  fs.chmodSync(opts.path, 0o666);
  opts.log.info({ socket: opts.path }, 'local users call the API on this socket, without a token');
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
