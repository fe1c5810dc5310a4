/**
 * Who sends a request. A person or a scheduler sends a user's bearer token. On a node, a local
 * user sends nothing: the agent learned their uid from its local socket (the kernel's word) and
 * passes the request on with the node's token and their account in ACCOUNT_HEADER, as Slurm takes
 * MUNGE's: the node vouches for whoever is on it.
 */
import type { FastifyInstance } from 'fastify';
import { ACCOUNT_HEADER, GodwitError, holderOf } from '@godwit/schemas';
import { certifiedPeer } from '@godwit/schemas/tls';
import { type Config } from './config.js';
import { requireNodeCert } from './node-cert.js';

export interface User {
  name: string;
  admin: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    user: User;
  }
}

/** the account MOSIX's mosctl needs, and every node's administrator */
const ROOT = 'root';
const ACCOUNT_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

const unauthorized = (message: string, details?: Record<string, unknown>) => new GodwitError('GODWIT_ERR_UNAUTHORIZED', message, details);

/**
 * The user a Unix account is: the one named as the account, else the first whose programs run as
 * it. Root is an administrator whoever it maps to, and is one even where no user names it.
 */
export function userOfAccount(config: Readonly<Config>, account: string, node: string): User {
  const holders = config.users.filter((u) => (u.account ?? u.name) === account);
  const user = holders.find((u) => u.name === account) ?? holders[0];
  if (user) return { name: user.name, admin: user.admin === true || account === ROOT };
  if (account === ROOT && !config.users.some((u) => u.name === ROOT)) return { name: ROOT, admin: true };
  throw unauthorized(
    `the Unix account '${account}' on ${node} has no godwit user: an administrator adds one to the orchestrator's users (with "account": "${account}"), or use a token`,
    { account, node },
  );
}

/**
 * The caller of a request from its headers and `peer`, the CN of the client certificate its
 * connection showed (certifiedPeer); throws GODWIT_ERR_UNAUTHORIZED saying what is wrong.
 */
export function callerOf(config: Readonly<Config>, headers: Readonly<Record<string, string | string[] | undefined>>, peer?: string): User {
  const authorization = headers.authorization;
  if (typeof authorization !== 'string' || !authorization.startsWith('Bearer ')) {
    throw unauthorized(`missing "Authorization: Bearer <token>": send a token from the orchestrator's users, or call from a node through its agent's local socket`);
  }
  const key = authorization.slice('Bearer '.length).trim();
  // a user's token says who by itself: an account named beside it changes nothing
  const user = holderOf(config.users, key);
  if (user) return { name: user.name, admin: user.admin === true };
  const node = holderOf(config.nodes, key);
  if (!node) throw unauthorized("invalid bearer token: it is none of the orchestrator's users'");
  requireNodeCert(config, node.name, peer);
  const account = headers[ACCOUNT_HEADER];
  if (typeof account !== 'string') {
    throw unauthorized(`node ${node.name}'s token calls the API only for a local user, named in ${ACCOUNT_HEADER}`, { node: node.name });
  }
  if (!ACCOUNT_NAME.test(account)) {
    throw unauthorized(`node ${node.name} named the account ${JSON.stringify(account.slice(0, 80))} in ${ACCOUNT_HEADER}, which is no account name`, { node: node.name });
  }
  return userOfAccount(config, account, node.name);
}

/** Adds the caller check to the routes registered in `scope` (and only there). */
export function requireUsers(scope: FastifyInstance, config: Readonly<Config>): void {
  scope.decorateRequest('user', null as unknown as User);
  scope.addHook('onRequest', async (req) => {
    req.user = callerOf(config, req.headers, certifiedPeer(req.raw.socket));
  });
}
