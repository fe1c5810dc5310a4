/**
 * A node's token counts only over a connection that shows that node's certificate (from the
 * cluster's CA, CN the node's name): a token stolen from a node is of no use without its key.
 */
import { GodwitError } from '@godwit/schemas';
import type { Config } from './config.js';

/** Throws GODWIT_ERR_UNAUTHORIZED unless TLS is off or the connection showed `node`'s certificate. */
export function requireNodeCert(config: Readonly<Pick<Config, 'tls'>>, node: string, peer: string | undefined): void {
  if (!config.tls || peer === node) return;
  throw new GodwitError(
    'GODWIT_ERR_UNAUTHORIZED',
    peer === undefined
      ? `node ${node}'s token came over a connection without a certificate from the cluster's CA: a node calls with its own certificate`
      : `node ${node}'s token came over a connection with ${peer}'s certificate: a node's token counts only with that node's certificate`,
    { node },
  );
}
