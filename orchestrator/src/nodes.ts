/**
 * The nodes: those in the configuration, and which of them are online. A node is online from
 * its agent's hello on the websocket until that socket closes or stays silent nodeTimeoutMs.
 */
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import Value from 'typebox/value';
import { AgentHello, AgentLoadMessage, GodwitError, holderOf, type Node } from '@godwit/schemas';
import { certifiedPeer } from '@godwit/schemas/tls';
import { type Bus, waitUntil } from './bus.js';
import type { Config } from './config.js';
import { requireNodeCert } from './node-cert.js';
import { type Db, toNode } from './db/index.js';

export type NodeConfig = Config['nodes'][number];

export interface NodeRegistry {
  /** node names in configuration order */
  readonly names: readonly string[];
  get(name: string): NodeConfig | undefined;
  /** the node, or GODWIT_ERR_NODE_NOT_FOUND listing the known ones */
  require(name: string): NodeConfig;
  isOnline(name: string): boolean;
  /** CRIU's record of an online node's CPU (base64 of its cpuinfo.img), as its agent sent it in its hello */
  cpuinfo(name: string): string | undefined;
  /**
   * The sources whose CPU record (as cpuinfo gives it) this online node's CRIU accepted since its
   * hello: neither CPU changes while both agents stay connected, so the check need not run again
   */
  cpuAccepted(name: string): Map<string, string> | undefined;
  /** whether all the nodes named are online, waiting up to timeoutMs for them */
  waitOnline(names: string[], timeoutMs: number, signal?: AbortSignal): Promise<boolean>;
  list(): Node[];
  attach(node: NodeConfig, socket: WebSocket): void;
  close(): void;
}

interface Link {
  socket: WebSocket;
  hello: boolean;
  lastMessageAt: number;
  cpuinfo?: string;
  cpuAccepted: Map<string, string>;
}

export function createNodeRegistry(config: Config, db: Db, bus: Bus, log: FastifyBaseLogger): NodeRegistry {
  const byName = new Map(config.nodes.map((n) => [n.name, n]));
  const names = config.nodes.map((n) => n.name);
  const links = new Map<string, Link>();

  db.tx(() => {
    for (const n of config.nodes) db.q.upsertConfiguredNode.run({ name: n.name, url: n.url });
  });

  function goOffline(name: string, why: string): void {
    links.delete(name);
    db.q.setNodeOffline.run(name);
    db.event({ node: name, kind: 'node-offline', message: `node ${name} is offline: ${why}` });
    log.warn({ node: name }, `node ${name} is offline: ${why}`);
  }

  const watchdog = setInterval(() => {
    const now = Date.now();
    for (const [name, link] of links) {
      if (now - link.lastMessageAt > config.nodeTimeoutMs) {
        link.socket.terminate();
        goOffline(name, `no report for ${config.nodeTimeoutMs} ms`);
      }
    }
  }, Math.max(100, Math.min(1000, Math.floor(config.nodeTimeoutMs / 2))));
  watchdog.unref();

  function onMessage(node: NodeConfig, link: Link, text: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
      log.warn({ node: node.name }, `node ${node.name} sent a message that is not JSON`);
      return;
    }
    const now = Date.now();
    if (Value.Check(AgentHello, msg)) {
      if (msg.node !== node.name) {
        log.warn(`the agent with node ${node.name}'s token calls itself ${msg.node}; it is taken as ${node.name}`);
      }
      link.hello = true;
      link.lastMessageAt = now;
      link.cpuinfo = msg.cpuinfo;
      db.q.setNodeOnline.run({ name: node.name, url: msg.url, at: now, features: JSON.stringify(msg.features), platform: JSON.stringify(msg.platform) });
      db.event({ node: node.name, kind: 'node-online', message: `node ${node.name} is online (${msg.url})` });
      log.info({ node: node.name, procs: msg.procs.length }, `node ${node.name} is online`);
      bus.emit('online', node.name);
    } else if (Value.Check(AgentLoadMessage, msg)) {
      if (!link.hello) return;
      link.lastMessageAt = now;
      db.q.setNodeLoad.run({ name: node.name, at: now, load: JSON.stringify(msg.load) });
    } else {
      log.warn({ node: node.name, msg }, `node ${node.name} sent a message of no known shape`);
    }
  }

  return {
    names,
    get: (name) => byName.get(name),
    require: (name) => {
      const n = byName.get(name);
      if (!n) {
        throw new GodwitError('GODWIT_ERR_NODE_NOT_FOUND', `no node ${name}; the nodes are: ${names.join(', ')}`, {
          nodes: names,
        });
      }
      return n;
    },
    isOnline: (name) => links.get(name)?.hello === true,
    cpuinfo: (name) => links.get(name)?.cpuinfo,
    cpuAccepted: (name) => (links.get(name)?.hello ? links.get(name)!.cpuAccepted : undefined),
    waitOnline: async (wanted, timeoutMs, signal) =>
      (await waitUntil(bus, ['online'], () => (wanted.every((n) => links.get(n)?.hello) ? true : undefined), {
        timeoutMs,
        signal,
        pollMs: 500,
      })) === true,
    list: () => {
      const rows = new Map(db.q.allNodes.all().map((r) => [r.name, toNode(r)]));
      return names.map((n) => rows.get(n)).filter((n): n is Node => n !== undefined);
    },
    attach: (node, socket) => {
      const old = links.get(node.name);
      const link: Link = { socket, hello: false, lastMessageAt: Date.now(), cpuAccepted: new Map() };
      links.set(node.name, link);
      if (old) old.socket.close(1000, 'superseded by a new connection');
      socket.on('message', (data) => onMessage(node, link, data.toString()));
      socket.on('close', () => {
        if (links.get(node.name) === link) goOffline(node.name, 'its agent disconnected');
      });
      socket.on('error', (err) => log.warn({ node: node.name, err }, `websocket of node ${node.name} failed`));
    },
    close: () => {
      clearInterval(watchdog);
      for (const link of links.values()) link.socket.terminate();
      links.clear();
    },
  };
}

/**
 * The configured node whose token an agent's request carries ("Authorization: Bearer TOKEN"), if
 * any; throws GODWIT_ERR_UNAUTHORIZED where the connection did not show that node's certificate.
 */
export function agentAuth(config: Config): (req: FastifyRequest) => NodeConfig | undefined {
  return (req) => {
    const auth = req.headers.authorization;
    const node = auth?.startsWith('Bearer ') ? holderOf(config.nodes, auth.slice('Bearer '.length).trim()) : undefined;
    if (node) requireNodeCert(config, node.name, certifiedPeer(req.raw.socket));
    return node;
  };
}

/** GET /v1/agents/ws: agents report here, identified by their node token (and certificate). */
export async function agentSocketRoute(app: FastifyInstance, config: Config, nodes: NodeRegistry): Promise<void> {
  const nodeOf = agentAuth(config);
  app.get(
    '/v1/agents/ws',
    {
      websocket: true,
      schema: { hide: true },
      preValidation: async (req, reply) => {
        if (!nodeOf(req)) {
          return reply
            .code(401)
            .send(new GodwitError('GODWIT_ERR_UNAUTHORIZED', 'agents must send "Authorization: Bearer <node token>" with a token from the orchestrator\'s nodes').toBody());
        }
      },
    },
    (socket, req) => {
      nodes.attach(nodeOf(req)!, socket);
    },
  );
}
